"""Keep a kernel's test results honest: judge values outside it, watch what it does inside.

Tests run in the student's kernel, beside the student's code, so anything the kernel computes
after student code ran can be forged: library functions and classes, module attributes,
reference values. The grader therefore decides what it can *outside* the kernel and watches
the rest. Six layers (the first three elsewhere, the rest here and in ``guard_kernel.py``, the
code the kernel runs):

1. Test cells are restored from the lesson's source before grading (``repair.repair``),
   and the sandbox (``sandbox``) gives the code nothing to forge a grade with: no gradebook,
   no solutions, no grader process to patch, no network.
2. Failing tests are judged by nbgrader from the messages the grader receives, outside the
   kernel; stderr noise no longer zeroes a cell (``preprocessors.stderr``).
3. **Values judged outside the kernel** (``judging``, ``answer_key``). Hidden tests send what
   the learner's code produced with ``sys.audit("autograder.judge", name, value, rule)``; the
   grader compares each value with the one the lesson's solution sent in the same test (the
   answer key, made by grading the solution once) and fails the cell on any difference, a
   value never sent or one sent twice. Replacing a reference in the kernel cannot change the
   key. Only plain Python and NumPy values cross, as JSON, size-limited, never pickle.
4. **An audit hook installed before any student code runs.** ``sys.addaudithook`` hooks cannot
   be removed from Python. Ours reports, through a pipe the grader reads outside the sandbox
   (a line written there cannot be taken back), every use *by the notebook's own code* of
   interpreter introspection and native memory access: ``ctypes``, ``gc.get_objects`` and
   friends, ``sys._getframe``, ``sys.settrace``/``setprofile``, replacing attributes of
   library classes (also through a library function the notebook called) or the code and
   defaults of library functions, and opening the grader's pipe or kernel sockets.
5. **Exercise rules while a test runs.** Before a test cell the guard checks that the
   exercise's functions are functions the notebook defines (not ``pointing_game =
   explain.pointing_game``), then traces new frames until the cell ends: an answer that calls
   into the ``course`` package fails the test (the exercise may name helpers it allows), so
   no exercise can be handed to a helper.
6. **Integrity checks around every test cell.** Right before and right after each test cell
   the grader sends ``sys.audit("autograder.check", NONCE, ...)`` with a fresh random nonce.
   The hook answers on the pipe with ``CHECK NONCE ok`` or the list of problems found by
   comparing the kernel with what it was before student code ran: every function, class and
   module bound in an installed module (the lesson's own imports are loaded before any
   notebook code so that they are seen untouched; the lesson's own rebinding, seen in the
   answer key's run, is allowed), ``sys.modules`` entries, ``builtins``/``math``/
   ``operator``/``numpy`` values, ``sys.audit`` and its kin; IPython input and AST
   transformers, custom exception handlers, ``showtraceback``, ``run_cell`` and the kernel's
   execute/send machinery; event callbacks defined by the notebook; modules loaded from the
   working folder that shadow installed ones; objects of notebook-defined classes that
   redefine comparison or conversion (always-equal objects); threads started by the notebook
   still running. A check that never answers (``sys.audit`` replaced, the cell rewritten, the
   kernel's replies forged) is itself a finding.

Any finding flags the submission: its points are withheld and the reason is recorded until a
person looks. The trust boundary, also in the README:

- values a test judges outside the kernel cannot be faked by replacing anything in it; a
  check that stays inside (training the learner's model, say) trusts the library functions it
  calls, which the watch above covers when they are module attributes, but not attributes of
  library *objects* (``scipy.stats.t.ppf = ...``), data attributes (``tf.float32 = ...``) or
  state changed in place; those are only caught where a judged value depends on them;
- calls into the course package are traced in the kernel's main thread and in threads started
  during a test, not in threads a library already runs (``tf.py_function`` in a ``tf.data``
  pipeline);
- code hidden in native code loaded through a library is not seen.

So a flag-free result is strong evidence, not proof; the judged values are the part that holds
whatever the kernel does.
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
MAX_LINE = 4000  # a report line; judged values have limits of their own
MAX_VALUE_LINE = 8 << 20  # one value sent by a test
MAX_VALUE_BYTES = 64 << 20  # all values of one run


def new_nonce() -> str:
    """A fresh random token."""
    return secrets.token_hex(12)


def check_code(
    nonce: str, phase: str = "", names: tuple[str, ...] = (), helpers: tuple[str, ...] = ()
) -> str:
    """The source of one integrity check cell.

    ``phase`` is ``"before"`` or ``"after"`` around a test cell: before, the guard checks that
    ``names`` (the exercise's functions) are defined by the notebook and starts watching for
    calls from answers into the course package (``helpers`` excepted); after, it stops and
    reports what it saw.
    """
    args = (CHECK_EVENT, nonce, phase, tuple(names), tuple(helpers))
    return f"__import__('sys').audit{args!r}"


def bind_code(nonce: str, names: list[str]) -> str:
    """The source of a cell that records what ``names`` are bound to (after a lesson cell)."""
    return f"__import__('sys').audit({BIND_EVENT!r}, {nonce!r}, {tuple(names)!r})"


def _parse_cell(source: str):
    """The AST of a cell's source after IPython's transformations (magics), or None."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def lesson_imports(nb: dict) -> list[str]:
    """Modules the lesson's own cells (not the answers) import, in order: the guard loads them
    before any notebook code runs, so it sees them as installed."""
    import ast

    from autograder.notebooks import source_text

    found: list[str] = []
    for cell in nb["cells"]:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell["cell_type"] != "code" or meta.get("solution"):
            continue
        tree = _parse_cell(source_text(cell))
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
                found += [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    return list(dict.fromkeys(found))


HELPERS_KEY = "course_helpers"  # in a test cell's "autograder" metadata


def exercise_helpers(nb: dict) -> dict[str, list[str]]:
    """For each test cell (grade_id), the course functions its exercise lets answers call
    (``"autograder": {"course_helpers": ["course.models.augmentation"]}`` in the test cell's
    metadata); any other call into the course package from an answer fails the test."""
    from autograder.notebooks import grade_id, is_test_cell

    out: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        if is_test_cell(cell) and grade_id(cell):
            meta = (cell.get("metadata") or {}).get("autograder") or {}
            out[grade_id(cell)] = [str(h) for h in meta.get(HELPERS_KEY, [])]
    return out


def exercise_names(nb: dict) -> dict[str, list[str]]:
    """For each test cell (grade_id), the functions and classes its exercise asks for: the
    top-level definitions of the solution cells since the previous test cell."""
    import ast

    from autograder.notebooks import grade_id, is_test_cell, source_text

    out: dict[str, list[str]] = {}
    names: list[str] = []
    for cell in nb["cells"]:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell["cell_type"] == "code" and meta.get("solution"):
            tree = _parse_cell(source_text(cell))
            for node in tree.body if tree is not None else ():
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.append(node.name)
        elif is_test_cell(cell) and grade_id(cell):
            out[grade_id(cell)] = list(dict.fromkeys(names))
            names = []
    return out


def imported_names(source: str) -> list[str]:
    """Names a cell binds with ``import`` statements outside functions (np, keras, ...)."""
    import ast

    tree = _parse_cell(source)
    if tree is None:
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


KERNEL_SOURCE = Path(__file__).with_name("guard_kernel.py")


def init_code(
    pipe: str,
    nonce: str,
    channel_dir: str,
    writable: tuple[str, ...],
    preimport: list[str] | None = None,
    rebinds: list[list[str]] | None = None,
    record: bool = False,
) -> str:
    """The source of the hidden first cell that installs the guard (:mod:`guard_kernel`).

    ``preimport`` names the modules the lesson's own cells import (loaded before any notebook
    code, so the library watch sees them untouched); ``rebinds`` lists the library attributes
    that the lesson itself rebinds, as ``[module, attribute, signature]`` seen in the answer
    key's run; ``record`` (answer-key runs) reports such rebinding instead of flagging it.
    """
    channel = channel_dir.rstrip("/") + "/"
    prefixes = tuple(w.rstrip("/") + "/" for w in writable)
    args = (pipe, nonce, channel, prefixes, list(preimport or []), list(rebinds or []), record)
    call = "__autograder_guard(" + ", ".join(repr(a) for a in args) + ")"
    source = KERNEL_SOURCE.read_text()
    return f"{source}\n{call}\ndel __autograder_guard, __autograder_encoder\n"


DATA_KINDS = ("VALUE", "VIOLATION", "REBIND")  # report lines that carry JSON, kept whole


@dataclass
class GuardLog:
    """Reads the guard's pipe in a thread (outside the sandbox) and judges what it said."""

    pipe: Path
    lines: list[str] = field(default_factory=list)
    dropped: int = 0
    value_bytes: int = 0

    def __post_init__(self) -> None:
        if not self.pipe.exists():
            os.mkfifo(self.pipe, 0o600)
        # open for reading without blocking, so the kernel's open for writing succeeds
        self._fd = os.open(self.pipe, os.O_RDONLY | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._new_line = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True, name="guard-reader")
        self._thread.start()

    def _read(self) -> None:
        import select

        buffer = bytearray()
        skipping = False  # inside a line longer than any report may be: drop it to its end
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                if self._stop.is_set():
                    break
                continue
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                if self._stop.is_set():
                    break
                self._stop.wait(0.05)  # no writer at the moment (not yet opened, or closed)
                continue
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    if not skipping:
                        buffer += chunk[start:]
                        if len(buffer) > MAX_VALUE_LINE + 1000:
                            buffer.clear()
                            skipping = True
                            self._keep("EVENT a report longer than the grader reads was dropped")
                    break
                if skipping:
                    skipping = False
                else:
                    buffer += chunk[start:end]
                    self._keep(buffer.decode("utf-8", "replace"))
                buffer.clear()
                start = end + 1
        if buffer and not skipping:
            self._keep(buffer.decode("utf-8", "replace"))

    def _keep(self, line: str) -> None:
        kind = line.partition(" ")[0]
        if kind in DATA_KINDS:
            self.value_bytes += len(line)
            if self.value_bytes > MAX_VALUE_BYTES:
                self.dropped += 1
                return
        else:
            line = line[:MAX_LINE]
        with self._new_line:
            if len(self.lines) < MAX_LINES:
                self.lines.append(line)
            else:
                self.dropped += 1
            self._new_line.notify_all()

    def wait_for_check(self, nonce: str, timeout: float = 10.0) -> bool:
        """Wait until the answer to the check ``nonce`` has been read (it is in the pipe when
        the check cell has run; the reader thread may be a moment behind)."""
        prefix = f"CHECK {nonce} "
        with self._new_line:
            return self._new_line.wait_for(
                lambda: any(line.startswith(prefix) for line in reversed(self.lines)), timeout
            )

    def window(self, before: str, after: str) -> list[tuple[str, str]]:
        """The data lines (kind, JSON text) reported between the answers to two checks: what
        a test cell sent while it ran."""
        with self._new_line:
            lines = list(self.lines)
        inside, out = False, []
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "CHECK":
                nonce = rest.partition(" ")[0]
                if nonce == before:
                    inside = True
                elif nonce == after:
                    break
            elif inside and kind in DATA_KINDS:
                out.append((kind, rest))
        return out

    def data(self, kind: str) -> list[str]:
        """The JSON text of every data line of ``kind`` (``REBIND``, ...), in order."""
        with self._new_line:
            return [line.partition(" ")[2] for line in self.lines if line.startswith(kind + " ")]

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
        if self.value_bytes > MAX_VALUE_BYTES:
            found.append(f"the notebook sent more than {MAX_VALUE_BYTES >> 20} MB of test values")
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
