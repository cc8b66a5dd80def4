"""Detect student code that tampers with how its tests run; flag it for a person to review.

Tests run in the student's kernel, beside the student's code, so a kernel's own report that a
test passed is only as good as the state of that kernel. The grader protects results in four
layers (the first two elsewhere, the last two here):

1. Test cells are restored from the lesson's source before grading (``integrity.sanitize``),
   and the sandbox (``sandbox``) gives the code nothing to forge a grade with: no gradebook,
   no solutions, no grader process to patch, no network.
2. Failing tests are judged by nbgrader from the messages the grader receives, outside the
   kernel; stderr noise no longer zeroes a cell (``preprocessors.StderrToStdout``).
3. **An audit hook installed before any student code runs.** ``sys.addaudithook`` hooks cannot
   be removed from Python. Ours reports, through a pipe the grader reads outside the sandbox
   (a line written there cannot be taken back), every use *by the notebook's own code* of
   interpreter introspection and native memory access: ``ctypes``, ``gc.get_objects`` and
   friends, ``sys._getframe``, ``sys.settrace``/``setprofile``, replacing attributes of
   library classes, and opening the grader's pipe or kernel sockets.
4. **Integrity checks around every test cell.** Right before and right after each test cell
   the grader sends ``sys.audit("autograder.check", NONCE)`` with a fresh random nonce. The
   hook answers on the pipe with ``CHECK NONCE ok`` or the list of problems found by comparing
   the kernel with a snapshot taken before student code ran: ``builtins``, ``math``,
   ``operator``, ``numpy`` and ``numpy.testing`` entries replaced; IPython input
   transformers, AST transformers, custom exception handlers, ``showtraceback``,
   ``run_cell`` and the kernel's execute/send machinery changed; event callbacks defined by
   the notebook; modules loaded from the working folder that shadow installed ones; objects
   of notebook-defined classes that redefine comparison or conversion (always-equal objects);
   threads started by the notebook still running. A check that never answers (``sys.audit``
   replaced, the cell rewritten, the kernel's replies forged) is itself a finding.

Any finding flags the submission: its points are withheld and the reason is recorded until a
person looks. What remains possible is documented in the README: a student who studies this
file could hide in native code loaded through a library (not flagged because the call comes
from library code), so a flag-free result is strong evidence, not proof.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

CHECK_EVENT = "autograder.check"
BIND_EVENT = "autograder.bind"
MAX_LINES = 2000  # kept by the reader; a flood of events cannot exhaust the grader's memory
MAX_LINE = 600


def new_nonce() -> str:
    """A fresh random token."""
    return secrets.token_hex(12)


def check_code(nonce: str) -> str:
    """The source of one integrity check cell."""
    return f"__import__('sys').audit({CHECK_EVENT!r}, {nonce!r})"


def bind_code(nonce: str, names: list[str]) -> str:
    """The source of a cell that records what ``names`` are bound to (after a lesson cell)."""
    return f"__import__('sys').audit({BIND_EVENT!r}, {nonce!r}, {tuple(names)!r})"


def imported_names(source: str) -> list[str]:
    """Names a cell binds with ``import`` statements outside functions (np, keras, ...)."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import):
            names += [a.asname or a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names += [a.asname or a.name for a in node.names if a.name != "*"]
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                todo += getattr(node, part, [])
        elif isinstance(node, ast.ExceptHandler):
            todo += node.body
    return list(dict.fromkeys(names))


# The hook, installed by the first (hidden) cell. Everything it needs is bound in its closure
# before student code runs; it calls nothing a notebook could replace afterwards.
_INIT = r"""
def __autograder_guard(pipe, nonce, channel_dir, writable):
    import builtins, math, operator, os, sys, threading, types
    import numpy, numpy.testing
    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    session = getattr(kernel, "session", None)
    fd = os.open(pipe, os.O_WRONLY)
    _write, _encode, _getframe = os.write, str.encode, sys._getframe
    _isinstance, _type, _getattr, _vars, _id = isinstance, type, getattr, vars, id
    _str, _tuple, _list = str, tuple, list
    stdlib = os.path.dirname(os.__file__) + "/"
    ctypes_dir = stdlib + "ctypes/"
    inspect_file = stdlib + "inspect.py"
    sent = [0]

    def emit(line):
        if sent[0] > 400:
            return
        sent[0] += 1
        if sent[0] > 400:
            line = "EVENT too many events; the rest were dropped"
        try:
            _write(fd, _encode(line.replace("\n", " ")[:600] + "\n", "utf-8", "replace"))
        except OSError:
            pass

    # what was importable before student code ran is the installation, even where it lives
    # below a writable prefix (an environment in /tmp, say)
    trusted = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    trusted += [p for p in sys.path if p and os.path.isabs(p) and p != os.getcwd()]
    spec = __import__("importlib.util").util.find_spec("course")
    if spec is not None and spec.origin:
        trusted.append(os.path.dirname(spec.origin))
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

    method_type = types.MethodType

    def same(now, then):
        # bound methods are made anew at each attribute access: compare what they bind
        if now is then:
            return True
        return (_type(now) is method_type and _type(then) is method_type
                and now.__func__ is then.__func__ and now.__self__ is then.__self__)

    def user_defined(cls):
        for value in _vars(cls).values():
            code = _getattr(_getattr(value, "__func__", value), "__code__", None)
            if code is not None and is_user_file(code.co_filename):
                return True
        return _getattr(cls, "__module__", "") == "__main__"

    # ---- the snapshot -------------------------------------------------------------------
    modules = {"builtins": builtins, "math": math, "operator": operator, "numpy": numpy,
               "numpy.testing": numpy.testing}
    ignore = {"_", "__", "___", "exit", "quit"}
    snap_attrs = {(m, k): v for m, mod in modules.items() for k, v in _vars(mod).items()
                  if k not in ignore}
    snap_modules = {m: sys.modules.get(m) for m in modules}
    shell_type, kernel_type = _type(ip), _type(kernel)
    shell_methods = ("run_cell", "run_cell_async", "_run_cell", "run_code", "run_ast_nodes",
                     "transform_cell", "transform_ast", "showtraceback", "_showtraceback",
                     "showsyntaxerror", "showindentationerror", "get_exception_only",
                     "should_run_async", "ex", "ev")
    kernel_methods = ("do_execute", "execute_request", "dispatch_shell", "send_response",
                      "_publish_execute_input", "_publish_status")
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
        return (_tuple(ip.input_transformers_cleanup), _tuple(tm.cleanup_transforms),
                _tuple(tm.line_transforms), _tuple(tm.token_transformers),
                _tuple(ip.input_transformers_post), _tuple(ip.ast_transformers))

    snap_transformers = [_tuple(_id(t) for t in group) for group in transformers()]
    snap_custom = ip.custom_exceptions
    snap_sys = {"displayhook": sys.displayhook, "excepthook": sys.excepthook,
                "stdout": _type(sys.stdout), "stderr": _type(sys.stderr)}
    snap_trace = (sys.gettrace(), sys.getprofile())
    snap_meta = _tuple(sys.meta_path)
    snap_threads = {_id(t) for t in threading.enumerate()}
    compare = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
               "__len__", "__float__", "__int__", "__index__", "__abs__", "__sub__",
               "__rsub__", "__array__", "__array_ufunc__", "__array_function__",
               "__instancecheck__", "__hash__", "__contains__")
    import_finder = __import__("importlib.machinery").machinery.PathFinder

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
            trusted = [p for p in sys.path if p and not is_user_file(p) and p != "."]
            try:
                if import_finder.find_spec(top, trusted) is not None:
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
        for event, callbacks in ip.events.callbacks.items():
            for cb in callbacks:
                func = _getattr(cb, "__func__", _getattr(cb, "func", cb))
                code = _getattr(func, "__code__", None)
                if code is not None and is_user_file(code.co_filename):
                    found.append("the notebook registered a %s callback" % event)
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
            found.append("module %s was loaded from the notebook's folder and shadows an "
                         "installed one" % name)
        for t in threading.enumerate():
            if _id(t) in snap_threads or not t.is_alive():
                continue
            target = _getattr(t, "_target", None) or _getattr(_type(t), "run", None)
            code = _getattr(_getattr(target, "__func__", target), "__code__", None)
            if code is not None and is_user_file(code.co_filename):
                found.append("a thread started by the notebook is running (%s)" % t.name)
        found.extend("an object of a notebook class: " + s for s in suspicious_objects())
        return found

    busy = [False]
    watch_caller = {"sys._getframe": inspect_file, "sys._current_frames": inspect_file,
                    "gc.get_objects": "\0", "gc.get_referrers": "\0",
                    "gc.get_referents": "\0", "sys.settrace": stdlib, "sys.setprofile": stdlib,
                    "object.__setattr__": stdlib, "object.__delattr__": stdlib}

    def hook(event, args):
        if busy[0]:
            return
        if event == "open":
            target = args[0]
            if _type(target) is not _str or not target.startswith(channel_dir):
                return
        elif event == BIND_EVENT:
            for name in args[1]:
                bound[name] = ip.user_ns.get(name, missing)
            emit("CHECK %s ok" % args[0])
            return
        elif event == "autograder.check":
            busy[0] = True
            try:
                found = problems()
            except BaseException as exc:
                found = ["the check itself failed: %s: %s" % (_type(exc).__name__, exc)]
            finally:
                busy[0] = False
            emit("CHECK %s %s" % (args[0], "FAIL " + " | ".join(found) if found else "ok"))
            return
        elif event not in watch_caller and not event.startswith("ctypes."):
            return
        busy[0] = True
        try:
            skip = ctypes_dir if event.startswith("ctypes.") else watch_caller.get(event, stdlib)
            who = caller(_getframe(1), skip)
            if who is None:
                return
            detail = ""
            if event.startswith("object.__"):
                target = args[0]
                if not _isinstance(target, _type) or user_defined(target):
                    return
                detail = " %s.%s.%s" % (target.__module__, target.__name__, args[1])
            elif event == "open":
                detail = " " + args[0]
            emit("EVENT %s%s at %s" % (event, detail, where(who)))
        except BaseException:
            pass
        finally:
            busy[0] = False

    # the working folder stays importable, but after the installed packages
    for entry in ("", ".", os.getcwd()):
        while entry in sys.path:
            sys.path.remove(entry)
    sys.path.append(os.getcwd())
    BIND_EVENT = "autograder.bind"
    sys.addaudithook(hook)
    emit("READY %s" % nonce)
"""


def init_code(pipe: str, nonce: str, channel_dir: str, writable: tuple[str, ...]) -> str:
    """The source of the hidden first cell that installs the guard."""
    channel = channel_dir.rstrip("/") + "/"
    prefixes = tuple(w.rstrip("/") + "/" for w in writable)
    call = f"__autograder_guard({pipe!r}, {nonce!r}, {channel!r}, {prefixes!r})"
    return f"{_INIT}\n{call}\ndel __autograder_guard\n"


@dataclass
class GuardLog:
    """Reads the guard's pipe in a thread (outside the sandbox) and judges what it said."""

    pipe: Path
    lines: list[str] = field(default_factory=list)
    dropped: int = 0

    def __post_init__(self) -> None:
        if not self.pipe.exists():
            os.mkfifo(self.pipe, 0o600)
        # open for reading without blocking, so the kernel's open for writing succeeds
        self._fd = os.open(self.pipe, os.O_RDONLY | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="guard-reader")
        self._thread.start()

    def _read(self) -> None:
        import select

        buffer = b""
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                if self._stop.is_set():
                    break
                continue
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                if self._stop.is_set():
                    break
                self._stop.wait(0.05)  # no writer at the moment (not yet opened, or closed)
                continue
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                self._keep(raw.decode("utf-8", "replace")[:MAX_LINE])
            if len(buffer) > 64 * MAX_LINE:
                buffer = b""
        if buffer:
            self._keep(buffer.decode("utf-8", "replace")[:MAX_LINE])

    def _keep(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(line)
        else:
            self.dropped += 1

    def close(self) -> None:
        """Stop reading (after the kernel has exited) and close the pipe."""
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)

    def findings(self, ready: str, checks: list[tuple[str, str]]) -> list[str]:
        """Problems with the run: events, failed checks, and checks that never answered.

        ``ready`` is the nonce of the init cell; ``checks`` pairs each expected nonce with a
        description of where it ran ("before ex1-tests").
        """
        found: list[str] = []
        answers: dict[str, str] = {}
        started = False
        for line in self.lines:
            kind, _, rest = line.partition(" ")
            if kind == "READY" and rest.strip() == ready:
                started = True
            elif kind == "CHECK":
                nonce, _, verdict = rest.partition(" ")
                answers.setdefault(nonce, verdict)
            elif kind == "EVENT":
                found.append(f"the notebook's code used {rest}")
        if not started:
            return ["the integrity guard did not start, so no result can be trusted", *found]
        for nonce, where in checks:
            verdict = answers.get(nonce)
            if verdict is None:
                found.append(f"the integrity check {where} never answered")
            elif verdict != "ok":
                # each problem once, with where it was first seen
                for problem in verdict.removeprefix("FAIL ").split(" | "):
                    if not any(f.startswith(problem + " (") for f in found):
                        found.append(f"{problem} (seen {where})")
        return list(dict.fromkeys(found))
