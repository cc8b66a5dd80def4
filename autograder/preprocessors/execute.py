"""nbgrader's ``Execute``, hardened for hostile notebooks: the *run* step of grading.

- Kernels start in the job's sandbox (:class:`autograder.sandbox.SandboxedKernelManager`).
- A hidden first cell installs the integrity guard (:mod:`autograder.guard`); every test cell is
  bracketed by integrity checks, and the values it sends are judged outside the kernel against
  the lesson's answer key (:mod:`autograder.judging`), or recorded when this run makes the key.
- A kernel that dies (crash, ``os._exit``, memory limit) no longer aborts the notebook: the
  cell gets an error saying why, later cells are marked as not run, and grading goes on, so the
  tests that ran before still count.
- Each cell keeps at most :attr:`Execute.max_output_bytes` of output; the rest is dropped with a
  note, so 100 MB of prints cannot exhaust the grader.

What it needs comes from the job folder (:attr:`Execute.job_dir`, a :class:`JobSpec` in
``job.json``); what it found goes to ``execution.json`` there (:class:`Execution`).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute as NbgraderExecute
from traitlets import Integer, Unicode

from autograder import judging, notebooks
from autograder.guard import (
    GuardLog,
    bind_code,
    check_code,
    exercise_helpers,
    exercise_names,
    imported_names,
    init_code,
    lesson_imports,
    new_nonce,
)
from autograder.sandbox import SandboxedKernelManager, SandboxSpec, font_cache
from autograder.spec import JobSpec

EXECUTION_FILE = "execution.json"
SANDBOX_WRITABLE = ("/tmp", "/home/student")  # what a sandboxed kernel may write


@dataclass
class KernelRun:
    """How to run one job's notebook: its sandbox, its guard and what its tests are judged by."""

    sandbox: SandboxSpec
    channel: str  # host folder of the kernel's sockets and the guard's pipe
    writable: tuple[str, ...]  # where the kernel's own files may come from (user code)
    preimport: list[str] = field(default_factory=list)  # modules the lesson's cells import
    exercises: dict[str, list[str]] = field(default_factory=dict)  # test -> the answer's names
    helpers: dict[str, list[str]] = field(default_factory=dict)  # test -> course helpers allowed
    key: dict[str, list[dict[str, Any]]] | None = None  # test -> answer-key entries
    rebinds: list[list[str]] = field(default_factory=list)  # library rebinding of the lesson
    record: bool = False  # record the values (an answer-key run) instead of judging them

    @classmethod
    def for_job(cls, jobdir: Path, channel: str) -> KernelRun:
        """The settings of the job in ``jobdir``, its kernel talking through ``channel``."""
        spec = JobSpec.read(jobdir)
        lesson_dir = jobdir / "source" / spec.lesson
        env = {"COURSE_FAST": "1"} if spec.fast else {}
        sandbox = SandboxSpec(
            ipc_dir=channel,
            data_dir=str(lesson_dir),
            limits=spec.limits,
            env=env,
            isolate=spec.isolate,
            mpl_cache=font_cache() if spec.isolate else "",
            threads=spec.threads,
        )
        writable = SANDBOX_WRITABLE if spec.isolate else (tempfile.gettempdir(), str(jobdir))
        source = notebooks.load(lesson_dir / f"{spec.lesson}.ipynb")
        run = cls(
            sandbox,
            channel,
            writable,
            lesson_imports(source),
            exercise_names(source),
            exercise_helpers(source),
            record=spec.record,
        )
        if spec.key:
            key = json.loads(Path(spec.key).read_text(encoding="utf-8"))
            run.key, run.rebinds = key["cells"], key["rebinds"]
        return run


@dataclass
class Execution:
    """What a run found (``execution.json``): where the kernel died, the guard's findings (None:
    the guard never reported), and for an answer-key run the values its tests sent."""

    died_at: dict[str, Any] | None = None
    guard: list[str] | None = None
    recorded: dict[str, list[str]] = field(default_factory=dict)
    rebinds: list[list[str]] = field(default_factory=list)

    def write(self, jobdir: Path) -> None:
        """Save as ``execution.json`` in ``jobdir``."""
        text = json.dumps(dataclasses.asdict(self), indent=1)
        (jobdir / EXECUTION_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def read(cls, jobdir: Path) -> Execution:
        """The execution report of ``jobdir`` (empty when the run wrote none)."""
        try:
            raw = json.loads((jobdir / EXECUTION_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(**raw)


class Execute(NbgraderExecute):
    """nbgrader's ``Execute`` hardened for hostile notebooks (see the module docstring)."""

    job_dir = Unicode("", help="the job folder: job.json in, execution.json out").tag(config=True)
    channel = Unicode("", help="host folder of the kernel's sockets and the guard's pipe").tag(
        config=True
    )
    max_output_bytes = Integer(1_000_000, help="output kept per cell").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        # the outputs are in; a graceful shutdown costs ~1 s and the sandbox is killed anyway
        kwargs.setdefault("shutdown_kernel", "immediate")
        super().__init__(*args, **kwargs)
        self._run: KernelRun | None = None
        self._sandboxed: SandboxedKernelManager | None = None

    def create_kernel_manager(self) -> Any:
        """A kernel manager that starts its kernel in this job's sandbox."""
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager) and self._run is not None:
            km.use(self._run.sandbox)
            self._sandboxed = km
        return km

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict, retries: Any = None
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Execute the notebook; with a job folder, guarded and judged."""
        jobdir = Path(self.job_dir) if self.job_dir else None
        self._run = KernelRun.for_job(jobdir, self.channel) if jobdir else None
        self._execution = Execution()
        self._dead: str | None = None
        self._guard = GuardLog(Path(self.channel) / "guard") if self._run else None
        self._ready, self._checks, self._started = new_nonce(), [], False
        self._output_bytes: dict[int, int] = {}
        try:
            return super().preprocess(nb, resources, retries)
        finally:
            if self._sandboxed is not None:
                self._sandboxed.release()
            if self._guard is not None:
                self._guard.close()
                self._execution.guard = self._guard.findings(self._ready, self._checks)
                self._execution.rebinds = [json.loads(t) for t in self._guard.data("REBIND")]
            if jobdir is not None:
                self._execution.write(jobdir)

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
        """Execute one cell (checked and judged when it is a test); survive a dead kernel."""
        if self._dead is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelDied", f"not run: {self._dead}")]
            return cell, resources
        test = cell.cell_type == "code" and utils.is_grade(cell) and bool(cell.source.strip())
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        guarded = self._guard is not None
        try:
            if guarded and not self._started:
                self._started = True
                self._run_hidden(self._init_code(), index)
            before = new_nonce()
            if guarded and test:
                names = tuple(self._run.exercises.get(name, ()))
                helpers = tuple(self._run.helpers.get(name, ()))
                code = check_code(before, "before", names, helpers)
                self._check(code, before, f"before {name}", index)
            cell, resources = super().preprocess_cell(cell, resources, index)
            names = imported_names(cell.source) if guarded and _lesson_cell(cell) else []
            if names:
                nonce = new_nonce()
                self._check(bind_code(nonce, names), nonce, f"after the imports of {name}", index)
            timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))
            if guarded and (test or timed_out):
                # after a timeout too: is the kernel still able to run anything?
                after = new_nonce()
                self._check(
                    check_code(after, "after" if test else ""), after, f"after {name}", index
                )
                if test:
                    self._judge(cell, name, before, after)
        except DeadKernelError:
            self._kernel_died(cell, index)
        except Unresponsive as exc:
            self._dead = str(exc)
            self._execution.died_at = {"index": index, "grade_id": None, "reason": self._dead}
            if cell.cell_type == "code":
                cell.outputs.append(_error("KernelUnresponsive", self._dead))
        return cell, resources

    def _init_code(self) -> str:
        run = self._run
        pipe = str(Path(run.channel) / "guard")
        return init_code(
            pipe, self._ready, run.channel, run.writable, run.preimport, run.rebinds, run.record
        )

    def _judge(self, cell: NotebookNode, name: str, before: str, after: str) -> None:
        """Decide the test cell outside the kernel: the values it sent against the answer key,
        and the exercise rules the guard watched (:mod:`autograder.judging`)."""
        if not self._guard.wait_for_check(after):
            return  # never answered: a finding already
        lines = self._guard.window(before, after)
        values = [text for kind, text in lines if kind == "VALUE"]
        problems = [json.loads(text) for kind, text in lines if kind == "VIOLATION"]
        if self._run.record:
            self._execution.recorded[name] = values
        elif self._run.key is not None:
            problems += judging.judge_cell(self._run.key.get(name, []), values)
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if problems and not failed:
            text = "; ".join(problems)
            cell.outputs.append(_error("AssertionError", f"judged by the grader: {text}"))

    def _kernel_died(self, cell: NotebookNode, index: int) -> None:
        first = next((ln for ln in str(cell.source).splitlines() if ln.strip()), "")
        limit = self._sandboxed.limit_reached() if self._sandboxed is not None else ""
        why = {
            "memory": "it ran out of its memory limit",
            "tasks": "it started more processes or threads than allowed",
        }.get(limit, "it crashed or exited")
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        where = f"cell {index + 1}" + (f" ({gid})" if gid else f" ({first.strip()[:60]!r})")
        self._dead = f"the kernel died in {where}: {why}"
        self._execution.died_at = {
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
