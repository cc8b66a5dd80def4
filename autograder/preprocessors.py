"""nbgrader preprocessors the course adds to autograding and feedback.

- :class:`Execute` is nbgrader's ``Execute`` with sandboxed kernels, the integrity guard,
  survival of a dead kernel (the cell where it died is recorded) and a cap on output.
- :class:`StderrToStdout` runs right after ``Execute``: it turns ``stderr`` stream outputs of
  graded cells into ``stdout`` streams prefixed with ``[stderr]``. nbgrader scores a test cell
  with any stderr output as 0 (``nbgrader.utils.determine_grade``); library log noise must not
  turn a correct answer into 0. Errors (output type ``error``) still fail the cell.
- :class:`HideHiddenTests` runs before feedback is rendered: it removes the
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region from graded cells and cuts
  tracebacks of graded cells down to ``Error: message``, so feedback never shows hidden tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from nbclient.exceptions import DeadKernelError
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute as NbgraderExecute
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

STDERR_PREFIX = "[stderr] "
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


class Execute(NbgraderExecute):
    """nbgrader's ``Execute`` hardened for hostile notebooks.

    - Kernels start through :class:`autograder.sandbox.SandboxedKernelManager`.
    - With a guard channel (:attr:`channel`, set by :mod:`autograder.job`), a hidden first cell
      installs :mod:`autograder.guard` and every test cell is bracketed by integrity checks.
    - A kernel that dies (crash, ``os._exit``, memory limit) no longer aborts the notebook: the
      cell gets an error saying why, later cells are marked as not run, and grading goes on,
      so the tests that ran before still count. :attr:`died_at` says where it happened.
    - Each cell keeps at most :attr:`max_output_bytes` of output; the rest is dropped with a
      note, so 100 MB of prints cannot exhaust the grader.
    """

    died_at: ClassVar[dict[str, Any] | None] = None
    channel: ClassVar[str | None] = None  # folder of the guard's pipe; None: no guard
    writable: ClassVar[tuple[str, ...]] = ("/tmp", "/home/student")
    guard_findings: ClassVar[list[str] | None] = None
    guard_rebinds: ClassVar[list[str]] = []  # REBIND lines of an answer-key run
    # the answer key's values per test cell (None: nothing is judged), or record them instead
    key: ClassVar[dict[str, list[dict[str, Any]]] | None] = None
    record: ClassVar[bool] = False
    recorded: ClassVar[dict[str, list[str]]] = {}  # test grade_id -> VALUE lines (record)
    rebinds: ClassVar[list[list[str]]] = []  # library rebinding the lesson does (see guard)
    preimport: ClassVar[list[str]] = []  # modules the lesson's cells import
    exercises: ClassVar[dict[str, list[str]]] = {}  # test grade_id -> the exercise's names
    helpers: ClassVar[dict[str, list[str]]] = {}  # test grade_id -> course functions allowed
    max_output_bytes = Integer(1_000_000, help="output kept per cell").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from autograder.sandbox import SandboxedKernelManager

        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        # the outputs are in; a graceful shutdown costs ~1 s and the sandbox is killed anyway
        kwargs.setdefault("shutdown_kernel", "immediate")
        super().__init__(*args, **kwargs)

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict, retries: Any = None
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Execute the notebook, with the guard when a channel is set."""
        from autograder.guard import GuardLog, new_nonce

        self._dead: str | None = None
        self._guard = GuardLog(Path(self.channel) / "guard") if self.channel else None
        self._ready, self._checks, self._started = new_nonce(), [], False
        self._output_bytes: dict[int, int] = {}
        try:
            return super().preprocess(nb, resources, retries)
        finally:
            if self._guard is not None:
                self._guard.close()
                Execute.guard_findings = self._guard.findings(self._ready, self._checks)
                Execute.guard_rebinds = self._guard.data("REBIND")

    def _check(self, source: str, nonce: str, where: str, index: int) -> None:
        """Run a guard cell whose answer the guard log must contain (unless the kernel dies)."""
        self._checks.append((nonce, where))
        try:
            cell = self._run_hidden(source, index)
        except DeadKernelError:
            self._checks.remove((nonce, where))  # a dead kernel answers nothing; not a finding
            raise
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            # a kernel that cannot answer a millisecond check is under the notebook's control:
            # nothing it runs from now on can be trusted, so it runs nothing more
            raise Unresponsive(f"the kernel stopped answering the grader ({where})")

    def _run_hidden(self, source: str, index: int) -> NotebookNode:
        """Run grader code in the kernel as a cell that is not part of the notebook."""
        real = self.nb.cells[index]
        cell = new_code_cell(source)
        saved = self.timeout
        self.timeout = min(saved or 30, 30)
        try:
            self.execute_cell(cell, index, store_history=False)
        finally:
            self.timeout = saved
            self.nb.cells[index] = real
        return cell

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Execute one cell (checked when it is a test); survive a dead kernel."""
        from autograder.guard import bind_code, check_code, imported_names, init_code, new_nonce

        if self._dead is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelDied", f"not run: {self._dead}")]
            return cell, resources
        test = cell.cell_type == "code" and utils.is_grade(cell) and bool(cell.source.strip())
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        try:
            if self._guard is not None and not self._started:
                self._started = True
                pipe = str(Path(self.channel) / "guard")
                init = init_code(pipe, self._ready, self.channel, self.writable, self.preimport,
                                 self.rebinds, self.record)  # fmt: skip
                self._run_hidden(init, index)
            before = new_nonce()
            if self._guard is not None and test:
                names = tuple(self.exercises.get(name, ()))
                helpers = tuple(self.helpers.get(name, ()))
                code = check_code(before, "before", names, helpers)
                self._check(code, before, f"before {name}", index)
            cell, resources = super().preprocess_cell(cell, resources, index)
            names = imported_names(cell.source) if self._guard and _lesson_cell(cell) else []
            if names:
                nonce = new_nonce()
                self._check(bind_code(nonce, names), nonce, f"after the imports of {name}", index)
            timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))
            if self._guard is not None and (test or timed_out):
                # after a timeout too: is the kernel still able to run anything?
                after = new_nonce()
                phase = "after" if test else ""
                self._check(check_code(after, phase), after, f"after {name}", index)
                if test:
                    self._judge(cell, name, before, after)
        except DeadKernelError:
            self._kernel_died(cell, index)
        except Unresponsive as exc:
            self._dead = str(exc)
            Execute.died_at = {"index": index, "grade_id": None, "reason": self._dead}
            if cell.cell_type == "code":
                cell.outputs.append(_error("KernelUnresponsive", self._dead))
        return cell, resources

    def _judge(self, cell: NotebookNode, name: str, before: str, after: str) -> None:
        """Decide the test cell outside the kernel: the values it sent against the answer key,
        and the exercise rules the guard watched (:mod:`autograder.judging`)."""
        from autograder import judging

        if not self._guard.wait_for_check(after):
            return  # never answered: a finding already
        lines = self._guard.window(before, after)
        values = [text for kind, text in lines if kind == "VALUE"]
        problems = [json.loads(text) for kind, text in lines if kind == "VIOLATION"]
        if self.record:
            Execute.recorded[name] = values
        elif self.key is not None:
            problems += judging.judge_cell(self.key.get(name, []), values)
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if problems and not failed:
            text = "; ".join(problems)
            cell.outputs.append(_error("AssertionError", f"judged by the grader: {text}"))

    def _kernel_died(self, cell: NotebookNode, index: int) -> None:
        from autograder.sandbox import SandboxedKernelManager

        first = next((ln for ln in str(cell.source).splitlines() if ln.strip()), "")
        limit = SandboxedKernelManager.limit_reached()
        why = {
            "memory": "it ran out of its memory limit",
            "tasks": "it started more processes or threads than allowed",
        }.get(limit, "it crashed or exited")
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        where = f"cell {index + 1}" + (f" ({gid})" if gid else f" ({first.strip()[:60]!r})")
        self._dead = f"the kernel died in {where}: {why}"
        Execute.died_at = {
            "index": index,
            "grade_id": gid,
            "first_line": first.strip()[:80],
            "limit": limit,
            "reason": self._dead,
        }
        if cell.cell_type == "code":
            cell.outputs.append(_error("KernelDied", self._dead))

    def output(
        self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        """Keep a cell's outputs up to :attr:`max_output_bytes`; note once what was dropped."""
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values()
        )
        size += sum(len(str(t)) for t in content.get("traceback", []) or [])
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if used <= self.max_output_bytes:
                limit = self.max_output_bytes
                note = f"\n[output truncated: this cell printed more than {limit} bytes]\n"
                outs.append(new_output("stream", name="stdout", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)


class Unresponsive(Exception):
    """A guard cell timed out: the kernel no longer runs what the grader sends."""


def _lesson_cell(cell: NotebookNode) -> bool:
    """A code cell that is neither an answer nor a test: the lesson's own code."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and not meta.get("solution") and not meta.get("grade")


def _error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class StderrToStdout(NbGraderPreprocessor):
    """Turn stderr streams of graded cells into prefixed stdout streams (see module doc)."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Rewrite the stderr outputs of one graded code cell."""
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = prefix_lines(str(output.get("text", "")))
        return cell, resources


def prefix_lines(text: str, prefix: str = STDERR_PREFIX) -> str:
    """Prefix every line of ``text`` with ``prefix``, keeping line ends."""
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def strip_hidden_tests(source: str) -> tuple[str, bool]:
    """Remove hidden-test regions from a cell's source; return the text and whether any was."""
    kept, hidden, removed = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden, removed = True, True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept), removed


class HideHiddenTests(NbGraderPreprocessor):
    """Hide hidden tests in feedback: their source, and tracebacks that would quote them."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Strip one cell's hidden-test region and shorten its tracebacks when it is graded."""
        if cell.cell_type != "code":
            return cell, resources
        cell.source, removed = strip_hidden_tests(str(cell.source))
        if removed or utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    output["traceback"] = [message.rstrip(": ")]
        return cell, resources
