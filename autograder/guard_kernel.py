"""The kernel side of the integrity guard: the source of the hidden first cell of a graded run.

This file is never imported by the grader. :func:`autograder.guard.init_code` reads its text
and sends it to the student's kernel as a hidden cell, before any notebook code runs, followed
by one call of :func:`__autograder_guard`. Everything the guard needs later is bound in that
call's closure at that moment, so replacing a module attribute afterwards cannot change what
the guard does. What it reports goes to a named pipe read by the grader outside the sandbox,
one line per report:

``READY nonce``            the guard is installed
``CHECK nonce ok|FAIL ...`` the answer to an integrity check (``autograder.check`` event)
``EVENT what at where``    the notebook's own code used introspection or native memory access
``VALUE {json}``           a value a test sent to the grader (``autograder.judge`` event)
``VIOLATION {json}``       learner code broke an exercise rule while a test ran
``REBIND {json}``          (answer-key runs only) lesson code rebound a library function

See :mod:`autograder.guard` for the design and what it cannot see.
"""

# The names below are only used inside the kernel; ruff sees an ordinary module.


def __autograder_encoder(numpy, binascii, _json, line_limit):  # noqa: N807
    """The JSON text of a ``VALUE`` report: ``{"name", "value", "rule"}`` of one judge event.

    Only exact built-in types (None, bool, int, float, str, bytes, list, tuple, dict) and
    NumPy arrays and scalars of numeric types are encoded, with the built-ins bound here (at
    the guard's start): nothing a value's own class defines runs. Anything else, or a value
    over ``line_limit`` bytes, becomes ``{"$x": why}``, which the grader never accepts.
    """
    _type, _len, _int, _str, _list, _tuple = type, len, int, str, list, tuple
    _enumerate = enumerate
    _b64, _enc_str = binascii.b2a_base64, _json.encode_basestring_ascii
    _float_repr, _int_repr = float.__repr__, int.__repr__
    _tobytes, _scalar_tobytes = numpy.ndarray.tobytes, numpy.generic.tobytes
    _contiguous, ndarray = numpy.ascontiguousarray, numpy.ndarray
    plain_scalars = {numpy.bool_, numpy.int8, numpy.int16, numpy.int32, numpy.int64,
                     numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64, numpy.float16,
                     numpy.float32, numpy.float64, numpy.complex64, numpy.complex128}  # fmt: skip

    class TooLarge(Exception):
        pass

    def encode(value, out, depth):
        if depth > 40:
            raise TooLarge("nested more than 40 levels deep")
        t = _type(value)
        if value is None:
            out.append("null")
        elif t is bool:
            out.append("true" if value else "false")
        elif t is int:
            text = _int_repr(value)
            out.append(text if _len(text) < 400 else '{"$x": "int with %d digits"}' % _len(text))
        elif t is float:
            text = _float_repr(value)
            out.append(text if text not in ("nan", "inf", "-inf") else '{"$f": "%s"}' % text)
        elif t is _str:
            out.append(_enc_str(value))
        elif t is bytes:
            out.append('{"$b": "%s"}' % _b64(value, newline=False).decode("ascii"))
        elif t is _list or t is _tuple:
            out.append("[" if t is _list else '{"$t": [')
            for i, item in _enumerate(value):
                if i:
                    out.append(", ")
                encode(item, out, depth + 1)
            out.append("]" if t is _list else "]}")
        elif t is dict:
            out.append('{"$d": [')
            for i, (key, item) in _enumerate(_list(value.items())):
                if i:
                    out.append(", ")
                out.append("[")
                encode(key, out, depth + 1)
                out.append(", ")
                encode(item, out, depth + 1)
                out.append("]")
            out.append("]}")
        elif t is ndarray:
            dtype = value.dtype
            if dtype.kind not in "biufc" or dtype.hasobject or dtype.names is not None:
                out.append('{"$x": %s}' % _enc_str("array of %s" % _str(dtype)))
            else:
                if value.nbytes > line_limit:
                    raise TooLarge("an array of %d bytes" % value.nbytes)
                data = _b64(_tobytes(_contiguous(value)), newline=False).decode("ascii")
                shape = ", ".join(_int_repr(_int(n)) for n in value.shape)
                out.append('{"$a": "%s", "shape": [%s], "b64": "%s"}' % (dtype.str, shape, data))
        elif t in plain_scalars:
            data = _b64(_scalar_tobytes(value), newline=False).decode("ascii")
            out.append('{"$s": "%s", "b64": "%s"}' % (value.dtype.str, data))
        else:
            out.append('{"$x": %s}' % _enc_str("%s.%s" % (t.__module__, t.__qualname__)))
        if _len(out) > 4_000_000:
            raise TooLarge("more than 4 million parts")

    def value_line(args, unreadable=False):
        name = _enc_str(args[0][:200])
        if unreadable:
            return '{"name": %s, "value": {"$x": %s}, "rule": {"$d": []}}' % (
                name,
                _enc_str(args[1]),
            )
        parts = ['{"name": ', name, ', "value": ']
        try:
            encode(args[1], parts, 0)
            parts.append(', "rule": ')
            encode(args[2] if _len(args) > 2 else {}, parts, 0)
            text = "".join(parts) + "}"
            if _len(text) > line_limit:
                raise TooLarge("%d bytes" % _len(text))
        except TooLarge as exc:
            return value_line((args[0], "too large: %s" % exc), unreadable=True)
        except RecursionError:
            return value_line((args[0], "too deep"), unreadable=True)
        return text

    return value_line


def __autograder_guard(pipe, nonce, channel_dir, writable, preimport, rebinds, record):  # noqa: N807
    import _json
    import binascii
    import builtins
    import functools
    import importlib
    import math
    import operator
    import os
    import sys
    import threading
    import types

    import numpy
    import numpy.testing

    ip = get_ipython()  # noqa: F821  (the kernel's IPython shell)
    kernel = getattr(ip, "kernel", None)
    session = getattr(kernel, "session", None)
    fd = os.open(pipe, os.O_WRONLY)
    _write, _encode, _getframe = os.write, str.encode, sys._getframe
    _isinstance, _issubclass, _type, _getattr, _vars, _id = (
        isinstance, issubclass, type, getattr, vars, id)  # fmt: skip
    _str, _tuple, _list, _len, _sorted, _repr = str, tuple, list, len, sorted, repr
    _settrace, _thread_settrace = sys.settrace, threading.settrace
    _real_audit = sys.audit
    _enc_str = _json.encode_basestring_ascii
    module_type, function_type = types.ModuleType, types.FunctionType
    method_type = types.MethodType
    _partial = functools.partial
    stdlib = os.path.dirname(os.__file__) + "/"
    ctypes_dir = stdlib + "ctypes/"
    inspect_file = stdlib + "inspect.py"
    sent = [0]

    def emit(line, limit=600):
        if sent[0] > 400:
            return
        sent[0] += 1
        if sent[0] > 400:
            line = "EVENT too many events; the rest were dropped"
        try:
            _write(fd, _encode(line.replace("\n", " ")[:limit] + "\n", "utf-8", "replace"))
        except OSError:
            pass

    def emit_data(kind, text):
        # values have a budget of their own; a line may be long, never split
        data = _encode("%s %s\n" % (kind, text), "utf-8", "replace")
        view = memoryview(data)
        while view:
            try:
                done = _write(fd, view)
            except OSError:
                return
            view = view[done:]

    # what was importable before student code ran is the installation, even where it lives
    # below a writable prefix (an environment in /tmp, say)
    trusted = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    trusted += [p for p in sys.path if p and os.path.isabs(p) and p != os.getcwd()]
    course_root = None  # the learner's package: answers may not call it
    for package in ("course", "course_tools"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            root = os.path.dirname(spec.origin) + "/"
            trusted.append(root)
            course_root = course_root or root
    trusted = _tuple(p.rstrip("/") + "/" for p in trusted)

    def is_user_file(name):
        if name.startswith("<ipython-input"):
            return True
        return name.startswith(writable) and not name.startswith(trusted)

    def where(frame):
        code = frame.f_code
        return "%s line %d" % (code.co_filename, frame.f_lineno)

    def caller(frame, skip):
        # the first frame outside the given library files decides who asked
        while frame is not None and frame.f_code.co_filename.startswith(skip):
            frame = frame.f_back
        if frame is not None and is_user_file(frame.f_code.co_filename):
            return frame
        return None

    def user_frame(frame):
        # the innermost frame of notebook code on the stack, or None
        while frame is not None and not is_user_file(frame.f_code.co_filename):
            frame = frame.f_back
        return frame

    def same(now, then):
        # bound methods are made anew at each attribute access: compare what they bind
        if now is then:
            return True
        return (
            _type(now) is method_type
            and _type(then) is method_type
            and now.__func__ is then.__func__
            and now.__self__ is then.__self__
        )

    wrappers = (classmethod, staticmethod)

    def code_of(value):
        # the code object of a function, or of the function a classmethod or staticmethod
        # wraps, read without running any of the value's own code (no __getattr__)
        t = _type(value)
        if t in wrappers:
            value = value.__func__
            t = _type(value)
        return value.__code__ if t is function_type else None

    def user_defined(cls):
        try:
            space = _vars(cls)
        except TypeError:
            return False
        for value in _list(space.values()):
            code = code_of(value)
            if code is not None and is_user_file(code.co_filename):
                return True
        return space.get("__module__", "") == "__main__"

    def made_by_notebook(value, depth=0):
        # a function, method, class, module or instance whose code the notebook wrote
        t = _type(value)
        if t is function_type:
            return is_user_file(value.__code__.co_filename)
        if t is method_type:
            return made_by_notebook(value.__func__, depth + 1)
        if _issubclass(t, type):
            return user_defined(value)
        if _issubclass(t, module_type):
            # loaded from a notebook file, or a module object holding the notebook's functions
            if user_defined(t):
                return True
            space = _vars(value)
            path = space.get("__file__")
            if _type(path) is _str:
                return not path.startswith(trusted)
            if sys.modules.get(space.get("__name__")) is value:
                return False  # a module in sys.modules: the watch looks at its attributes
            return depth == 0 and holds_notebook_code(value)
        if t is _partial and depth < 5:
            return made_by_notebook(value.func, depth + 1)
        return user_defined(t)

    def holds_notebook_code(mod):
        # a module object (made with types.ModuleType, say) whose functions the notebook wrote
        return any(
            made_by_notebook(v, 1)
            for v in _list(_vars(mod).values())
            if callable(v) and not _issubclass(_type(v), module_type)
        )

    def signature(value):
        # what a library object is, without running any code of it
        t = _type(value)
        if _issubclass(t, module_type):
            return "module " + _str(_vars(value).get("__name__"))
        if t is method_type:
            value = value.__func__
            t = _type(value)
        if t is function_type or _issubclass(t, type) or t is types.BuiltinFunctionType:
            return "%s %s.%s" % (t.__name__, value.__module__, value.__qualname__)
        return "instance of %s.%s" % (t.__module__, t.__qualname__)

    # ---- modules the lesson's own cells import, loaded before any notebook code ------------
    for name in preimport:
        try:
            importlib.import_module(name)
        except BaseException:  # a module that fails here fails the same way in the lesson
            pass

    # ---- the snapshot -------------------------------------------------------------------
    modules = {
        "builtins": builtins,
        "math": math,
        "operator": operator,
        "numpy": numpy,
        "numpy.testing": numpy.testing,
    }
    ignore = {"_", "__", "___", "exit", "quit"}
    snap_attrs = {
        (m, k): v for m, mod in modules.items() for k, v in _vars(mod).items() if k not in ignore
    }
    snap_modules = {m: sys.modules.get(m) for m in modules}
    shell_type, kernel_type = _type(ip), _type(kernel)
    shell_methods = (
        "run_cell",
        "run_cell_async",
        "_run_cell",
        "run_code",
        "run_ast_nodes",
        "transform_cell",
        "transform_ast",
        "showtraceback",
        "_showtraceback",
        "showsyntaxerror",
        "showindentationerror",
        "get_exception_only",
        "should_run_async",
        "ex",
        "ev",
    )
    kernel_methods = (
        "do_execute",
        "execute_request",
        "dispatch_shell",
        "send_response",
        "_publish_execute_input",
        "_publish_status",
    )
    session_methods = ("send", "serialize", "sign")
    snap_shell = {k: _getattr(shell_type, k, None) for k in shell_methods}
    snap_shell_own = {k: _vars(ip).get(k) for k in shell_methods}
    snap_kernel_own = {k: _vars(kernel).get(k) for k in kernel_methods}
    snap_session_own = {k: _vars(session).get(k) for k in session_methods}
    snap_kernel = {k: _getattr(kernel_type, k, None) for k in kernel_methods}
    snap_session = {k: _getattr(_type(session), k, None) for k in session_methods}
    handlers = dict(_getattr(kernel, "shell_handlers", {}))
    tm = ip.input_transformer_manager

    def transformers():
        return (
            _tuple(ip.input_transformers_cleanup),
            _tuple(tm.cleanup_transforms),
            _tuple(tm.line_transforms),
            _tuple(tm.token_transformers),
            _tuple(ip.input_transformers_post),
            _tuple(ip.ast_transformers),
        )

    snap_transformers = [_tuple(_id(t) for t in group) for group in transformers()]
    snap_custom = ip.custom_exceptions
    snap_sys = {
        "displayhook": sys.displayhook,
        "excepthook": sys.excepthook,
        "stdout": _type(sys.stdout),
        "stderr": _type(sys.stderr),
    }
    snap_sys_fns = {
        k: _getattr(sys, k)
        for k in ("audit", "addaudithook", "settrace", "setprofile", "gettrace", "getprofile")
    }
    snap_sys_modules = sys.modules
    snap_trace = (sys.gettrace(), sys.getprofile())
    snap_meta = _tuple(sys.meta_path)
    snap_threads = {_id(t) for t in threading.enumerate()}
    compare = (
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__bool__",
        "__len__",
        "__float__",
        "__int__",
        "__index__",
        "__abs__",
        "__sub__",
        "__rsub__",
        "__array__",
        "__array_ufunc__",
        "__array_function__",
        "__instancecheck__",
        "__hash__",
        "__contains__",
    )
    import_finder = importlib.machinery.PathFinder

    # ---- the library watch: every function, class and module of the installed packages --------
    # The kernel's own machinery changes as it runs and has checks of its own above.
    machinery = {
        "IPython",
        "ipykernel",
        "jupyter_client",
        "jupyter_core",
        "zmq",
        "tornado",
        "traitlets",
        "asyncio",
        "comm",
        "debugpy",
        "prompt_toolkit",
        "jedi",
        "parso",
        "pygments",
        "matplotlib_inline",
        "__main__",
        "pydevd",
        "_pydevd_bundle",
        "_pydev_bundle",
        "pydevd_file_utils",
        "decorator",
        "pexpect",
        "ptyprocess",
        "psutil",
        "nest_asyncio",
        "stack_data",
        "executing",
        "pure_eval",
        "asttokens",
        "wcwidth",
        "pickleshare",
        "backcall",
        "threading",
        "logging",
        "concurrent",
        "selectors",
        "socket",
        "ssl",
        "queue",
        "signal",
        "weakref",
        "linecache",
        "tokenize",
        "codeop",
        "ast",
        "warnings",
        "gc",
        "_weakrefset",
    }
    allowed = {(m, a, s) for m, a, s in rebinds}
    watched = {}  # module name -> (module, {attribute: value})
    early = []  # problems found when a module was first seen
    protected = set()  # ids of library classes that existed when the guard started

    def watchable(name, mod):
        if name.partition(".")[0] in machinery or not _issubclass(_type(mod), module_type):
            return False
        path = _vars(mod).get("__file__")
        if path is None:
            return name in sys.builtin_module_names
        return _type(path) is _str and path.startswith(trusted)

    def take(name, mod):
        attrs = {}
        for key, value in _list(_vars(mod).items()):
            if callable(value) or _issubclass(_type(value), module_type):
                attrs[key] = value
                if not starting[0] and made_by_notebook(value):
                    early.append("%s.%s is an object the notebook defined" % (name, key))
                elif _issubclass(_type(value), type):
                    protected.add(_id(value))
        watched[name] = (mod, attrs)

    examined = set()  # every module name seen, watched or not

    def scan():
        for name in _list(sys.modules.keys() - examined):
            examined.add(name)
            mod = sys.modules.get(name)
            try:
                if watchable(name, mod):
                    take(name, mod)
                elif (
                    not starting[0]
                    and _issubclass(_type(mod), module_type)
                    and name.partition(".")[0] not in machinery
                    and _type(_vars(mod).get("__file__")) is not _str
                    and holds_notebook_code(mod)
                ):
                    early.append("sys.modules[%r] is a module the notebook made" % name)
            except Exception:  # a module the watch cannot read is left out, never a finding
                watched.pop(name, None)

    def library_changes():
        found = []
        if sys.modules is not snap_sys_modules:
            found.append("sys.modules was replaced")
        for name, (mod, attrs) in _list(watched.items()):
            if name in modules:
                continue  # compared attribute by attribute above
            try:
                found.extend(module_changes(name, mod, attrs))
            except Exception:  # a module the watch cannot read is left out, never a finding
                pass
        return found

    def module_changes(name, mod, attrs):
        found = []
        now = sys.modules.get(name)
        if now is not None and now is not mod:
            found.append("sys.modules[%r] was replaced" % name)
        space = _vars(mod)
        for key, old in _list(attrs.items()):
            new = space.get(key, attrs)
            if new is attrs or same(new, old):
                continue
            if made_by_notebook(new):
                found.append("%s.%s was replaced by an object the notebook defined" % (name, key))
                continue
            if (
                _issubclass(_type(new), module_type)
                and _issubclass(_type(old), module_type)
                and sys.modules.get(_vars(new).get("__name__")) is new
            ):
                attrs[key] = new  # a lazy module loaded
                continue
            sig = signature(new)
            if (name, key, sig) in allowed:
                attrs[key] = new
            elif record:
                allowed.add((name, key, sig))
                attrs[key] = new
                emit_data("REBIND", "[%s, %s, %s]" % (_enc_str(name), _enc_str(key), _enc_str(sig)))
            else:
                found.append("%s.%s was replaced (now %s)" % (name, key, sig))
        if _len(space) != _len(attrs):
            for key in space.keys() - attrs.keys():
                value = space[key]
                if callable(value) and made_by_notebook(value):
                    found.append("%s.%s was added by the notebook" % (name, key))
        return found

    def shadowing():
        found = []
        for name, mod in _list(sys.modules.items()):
            path = _getattr(mod, "__file__", None)
            if not path or not is_user_file(_str(path)):
                continue
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names:
                found.append(name)
                continue
            trusted_paths = [p for p in sys.path if p and not is_user_file(p) and p != "."]
            try:
                if import_finder.find_spec(top, trusted_paths) is not None:
                    found.append(name)
            except Exception:
                pass
        return found

    def suspicious_objects():
        out, seen = [], set()
        ns = ip.user_ns
        values = []
        for value in _list(ns.values()):
            values.append(value)
            if _isinstance(value, (list, tuple, set, frozenset)):
                values.extend(_list(value)[:100])
            elif _isinstance(value, dict):
                values.extend(_list(value.values())[:100])
        for value in values:
            cls = _type(value)
            if _id(cls) in seen or cls.__module__ == "builtins":
                continue
            seen.add(_id(cls))
            for klass in cls.__mro__[:-1]:
                if not user_defined(klass):
                    continue
                own = [k for k in compare if k in _vars(klass)]
                if own:
                    out.append("%s defines %s" % (klass.__name__, ", ".join(own)))
                    break
        return out

    bound = {}  # names imported by lesson cells -> the object they were bound to
    missing = object()

    def problems():
        found = []
        for name, value in _list(bound.items()):
            if not same(ip.user_ns.get(name, missing), value):
                found.append("%s, imported by a lesson cell, was rebound" % name)
        for (m, k), v in snap_attrs.items():
            if not same(_getattr(modules[m], k, None), v):
                found.append("%s.%s was replaced" % (m, k))
        for m, mod in snap_modules.items():
            if sys.modules.get(m) is not mod:
                found.append("sys.modules[%r] was replaced" % m)
        for k, v in snap_sys_fns.items():
            if not same(_getattr(sys, k, None), v):
                found.append("sys.%s was replaced" % k)
        for name, value in _list(ip.user_ns.items()):
            if _isinstance(value, types.ModuleType):
                real = sys.modules.get(_getattr(value, "__name__", ""))
                if real is not None and real is not value:
                    found.append("%s is a fake module %s" % (name, value.__name__))
        if _type(ip) is not shell_type:
            found.append("the IPython shell was replaced")
        for k, v in snap_shell.items():
            own = _vars(ip).get(k)
            if not same(own, snap_shell_own[k]) or _getattr(shell_type, k, None) is not v:
                found.append("the shell's %s was replaced" % k)
        for k, v in snap_kernel.items():
            own = _vars(kernel).get(k)
            if not same(own, snap_kernel_own[k]) or _getattr(kernel_type, k, None) is not v:
                found.append("the kernel's %s was replaced" % k)
        for k, v in snap_session.items():
            own = _vars(session).get(k)
            if not same(own, snap_session_own[k]) or _getattr(_type(session), k, None) is not v:
                found.append("the kernel session's %s was replaced" % k)
        if _getattr(kernel, "shell_handlers", {}) != handlers:
            found.append("the kernel's message handlers were changed")
        now = [_tuple(_id(t) for t in group) for group in transformers()]
        if now != snap_transformers:
            found.append("IPython input or AST transformers were installed")
        if ip.custom_exceptions != snap_custom:
            found.append("a custom exception handler was installed (set_custom_exc)")
        ours = False
        for event, callbacks in ip.events.callbacks.items():
            for cb in callbacks:
                if cb is on_cell:
                    ours = True
                    continue
                func = _getattr(cb, "__func__", _getattr(cb, "func", cb))
                code = _getattr(func, "__code__", None)
                if code is not None and is_user_file(code.co_filename):
                    found.append("the notebook registered a %s callback" % event)
        if not ours:
            found.append("the grader's pre_run_cell callback was removed")
        if not same(sys.displayhook, snap_sys["displayhook"]):
            found.append("sys.displayhook was replaced")
        if not same(sys.excepthook, snap_sys["excepthook"]):
            found.append("sys.excepthook was replaced")
        if (sys.gettrace(), sys.getprofile()) != snap_trace:
            found.append("a trace or profile function is active")
        for finder in sys.meta_path:
            if finder not in snap_meta and user_defined(_type(finder)):
                found.append("the notebook installed an import hook")
        for name in shadowing():
            found.append(
                "module %s was loaded from the notebook's folder and shadows an "
                "installed one" % name
            )
        for t in threading.enumerate():
            if _id(t) in snap_threads or not t.is_alive():
                continue
            target = _getattr(t, "_target", None) or _getattr(_type(t), "run", None)
            code = _getattr(_getattr(target, "__func__", target), "__code__", None)
            if code is not None and is_user_file(code.co_filename):
                found.append("a thread started by the notebook is running (%s)" % t.name)
        found.extend("an object of a notebook class: " + s for s in suspicious_objects())
        scan()
        found.extend(early)
        found.extend(library_changes())
        return found

    # ---- values a test sends to the grader (judged outside the kernel) ----------------------
    value_budget = [64 << 20]  # bytes of values per kernel
    value_line = __autograder_encoder(numpy, binascii, _json, 8 << 20)

    def judged(args):
        if _len(args) < 2 or _type(args[0]) is not _str:
            return
        text = value_line(args)
        if _len(text) > value_budget[0]:
            text = value_line((args[0], "over the budget of values", {}), unreadable=True)
        value_budget[0] -= _len(text)
        emit_data("VALUE", text)

    # ---- exercise rules, checked while a test runs ----------------------------------------
    violations = []

    def violation(text):
        if text not in violations and _len(violations) < 5:
            violations.append(text)

    def check_bindings(names):
        # an exercise's answer is a function or class the notebook defines itself
        for name in names:
            value = ip.user_ns.get(name, missing)
            if value is missing:
                continue
            t = _type(value)
            if t is function_type and is_user_file(value.__code__.co_filename):
                continue
            if _issubclass(t, type) and user_defined(value):
                continue
            what = signature(value) if not made_by_notebook(value) else "not a def or class"
            violation(
                "%s is not a function defined in your notebook (it is %s): write it "
                "yourself with def" % (name, what)
            )

    allowed_helpers = set()

    def monitor(frame, event, arg):
        # called for every new frame while a test cell runs: answers calling the course package
        code = frame.f_code
        if not code.co_filename.startswith(course_root):
            return None
        entry = frame  # the course function the caller outside the package called
        while entry.f_back is not None and entry.f_back.f_code.co_filename.startswith(course_root):
            entry = entry.f_back
        first = entry.f_back
        if first is None or not is_user_file(first.f_code.co_filename):
            return None  # called by a library (a hook the course installed, say), not an answer
        top, up = first, first.f_back
        while up is not None:
            if is_user_file(up.f_code.co_filename):
                top = up
            up = up.f_back
        if first.f_code.co_filename == top.f_code.co_filename:
            return None  # the test's own code
        module = _getattr(entry, "f_globals", {}).get("__name__", "course")
        helper = "%s.%s" % (module, entry.f_code.co_qualname)
        if helper in allowed_helpers or helper.partition(".<locals>")[0] in allowed_helpers:
            return None
        named = first  # the answer's function, not a comprehension or lambda inside it
        while named.f_code.co_name.startswith("<") and named.f_back is not None:
            if not is_user_file(named.f_back.f_code.co_filename):
                break
            named = named.f_back
        violation(
            "%s called the course's %s: exercises are solved without the course package"
            % (named.f_code.co_name, helper)
        )
        return None

    monitoring = [False]

    def start_monitor(names, helpers):
        del violations[:]
        allowed_helpers.clear()
        allowed_helpers.update(helpers)
        check_bindings(names)
        if course_root is not None:
            monitoring[0] = True
            _settrace(monitor)
            _thread_settrace(monitor)

    def stop_monitor():
        if monitoring[0]:
            monitoring[0] = False
            _settrace(None)
            _thread_settrace(None)
        for text in violations:
            emit_data("VIOLATION", _enc_str(text))
        del violations[:]

    # ---- the audit hook -----------------------------------------------------------------
    busy = [False]
    watch_caller = {
        "sys._getframe": inspect_file,
        "sys._current_frames": inspect_file,
        "gc.get_objects": "\0",
        "gc.get_referrers": "\0",
        "gc.get_referents": "\0",
        "sys.settrace": stdlib,
        "sys.setprofile": stdlib,
        "object.__setattr__": stdlib,
        "object.__delattr__": stdlib,
    }

    def hook(event, args):
        if busy[0]:
            return
        if event == "open":
            target = args[0]
            if _type(target) is not _str or not target.startswith(channel_dir):
                return
        elif event == "autograder.judge":
            busy[0] = True
            try:
                judged(args)
            finally:
                busy[0] = False
            return
        elif event == BIND_EVENT:
            for name in args[1]:
                bound[name] = ip.user_ns.get(name, missing)
            emit("CHECK %s ok" % args[0])
            return
        elif event == "autograder.check":
            busy[0] = True
            phase = args[1] if _len(args) > 1 else ""
            try:
                if phase == "after":
                    stop_monitor()
                found = problems()
            except BaseException as exc:
                found = ["the check itself failed: %s: %s" % (_type(exc).__name__, exc)]
            finally:
                busy[0] = False
            emit("CHECK %s %s" % (args[0], "FAIL " + " | ".join(found) if found else "ok"), 4000)
            if phase == "before":
                busy[0] = True
                try:
                    start_monitor(
                        args[2] if _len(args) > 2 else (), args[3] if _len(args) > 3 else ()
                    )
                finally:
                    busy[0] = False
            return
        elif event not in watch_caller and not event.startswith("ctypes."):
            return
        busy[0] = True
        try:
            skip = ctypes_dir if event.startswith("ctypes.") else watch_caller.get(event, stdlib)
            if monitoring[0] and event in ("sys.settrace", "sys.setprofile"):
                skip = "\0"  # nobody but the grader sets a tracer while a test runs
            who = caller(_getframe(1), skip)
            detail = ""
            if event.startswith("object.__"):
                target = args[0]
                if _issubclass(_type(target), type):
                    if user_defined(target):
                        return
                    if who is None and _id(target) in protected:
                        who = user_frame(_getframe(1))  # a library call made for the notebook
                elif _type(target) is function_type:
                    if not target.__code__.co_filename.startswith(trusted):
                        return  # the notebook's own, or made at run time (namedtuple)
                    who = who or user_frame(_getframe(1))
                    detail = " %s.%s.%s" % (target.__module__, target.__qualname__, args[1])
                else:
                    return
                if who is None:
                    return
                if not detail:
                    detail = " %s.%s.%s" % (target.__module__, target.__name__, args[1])
            elif who is None:
                return
            elif event == "open":
                detail = " " + args[0]
            emit("EVENT %s%s at %s" % (event, detail, where(who)))
        except BaseException:
            pass
        finally:
            busy[0] = False

    def on_cell(*args):
        # before every cell: note the modules loaded by the cells so far, before the next runs
        busy[0] = True
        try:
            scan()
        except BaseException as exc:
            early.append("the library watch failed: %s" % _type(exc).__name__)
        finally:
            busy[0] = False

    starting = [True]
    scan()
    starting[0] = False
    # the working folder stays importable, but after the installed packages
    for entry in ("", ".", os.getcwd()):
        while entry in sys.path:
            sys.path.remove(entry)
    sys.path.append(os.getcwd())
    BIND_EVENT = "autograder.bind"
    ip.events.register("pre_run_cell", on_cell)
    sys.addaudithook(hook)
    emit("READY %s" % nonce)
