"""``autograder grade``: grade a batch of submissions, each in isolation.

Every submission is one :class:`Job`, graded by :func:`grade_one` in its own nbgrader course
root (``<out>/work/<student>/<lesson>/``) holding the lesson's source, a copy of the lesson's
template gradebook and the sanitised submission; nbgrader runs in a subprocess
(:mod:`autograder.job`). A crash, an abort or a dead kernel in one job never stops the batch
nor touches another student's gradebook. ``grade_one`` is a pure function of its job, so a
process pool (``--workers``) or a cluster engine such as Dask can run the jobs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import notebooks
from autograder.device import detect_device
from autograder.integrity import sanitize
from course.env import FAST_ENV_VAR, QUIET_ENV

DEFAULT_TIMEOUT = 120


@dataclass
class Row:
    """The result of one submission: one row of ``grades.csv``."""

    student: str
    lesson: str
    exercises: list[str] = field(default_factory=list)  # grade_ids of the lesson, in order
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    total: float | str = 0.0  # "" when withheld (flagged)
    max_score: float | str = ""
    status: str = "error"
    reason: str = ""
    device: str = ""
    feedback: str = ""  # path of the feedback HTML, when there is one
    messages: dict[str, str] = field(default_factory=dict)  # grade_id -> first error line


@dataclass(frozen=True)
class Job:
    """Everything :func:`grade_one` needs; only paths and plain values, so it pickles."""

    student: str
    lesson: str
    notebook: str | None
    template: str | None  # per-lesson template course root (see :func:`prepare_template`)
    workdir: str
    feedback_dir: str
    timeout: int = DEFAULT_TIMEOUT
    fast: bool = False
    error: str | None = None
    note: str | None = None
    isolate: bool = True  # False only when the instructor passed --no-isolation
    limits: dict | None = None  # sandbox.Limits fields; None: the defaults
    threads: int = 0  # CPU threads for the kernel (0: all); parallel workers share the cores
    key: str | None = None  # the lesson's answer key (autograder.answer_key); None: no judging
    record: bool = False  # an answer-key run: record what the tests send instead of judging


MAX_NOTEBOOK_BYTES = 64 << 20  # a submitted notebook larger than this is not graded


def slug(name: str) -> str:
    """A file-system and nbgrader safe form of a student id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "student"


def lesson_exercises(template: Path, lesson: str) -> tuple[list[str], dict[str, float]]:
    """The autograded test cells (grade_ids, in order) of a lesson and their points."""
    nb = notebooks.load(template / "source" / lesson / f"{lesson}.ipynb")
    ids, points = [], {}
    for cell in nb["cells"]:
        if notebooks.is_test_cell(cell):
            gid = notebooks.grade_id(cell)
            ids.append(gid)
            points[gid] = float(cell["metadata"]["nbgrader"].get("points", 0))
    return ids, points


def prepare_template(lesson: str, source_dir: str | os.PathLike, root: str | os.PathLike) -> Path:
    """A course root for ``lesson`` after ``generate_assignment``: source, release, gradebook."""
    from autograder import nbg

    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
        staged = Path(tmp)
        shutil.copytree(
            Path(source_dir) / lesson,
            staged / lesson,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        nbpath = staged / lesson / f"{lesson}.ipynb"
        notebooks.write_canonical(nbpath, notebooks.load(nbpath))
        nbg.generate_assignment(staged, lesson, root)
    return root


def job_env(fast: bool) -> dict[str, str]:
    """The environment of a grading subprocess and of the kernels it starts."""
    from autograder.nbg import tool_env

    env = tool_env()
    env.update(QUIET_ENV)
    env.pop(FAST_ENV_VAR, None)
    if fast:
        env[FAST_ENV_VAR] = "1"
    # the kernelspec `python3` of the environment running the grader wins over any other
    share = str(Path(sys.prefix) / "share" / "jupyter")
    others = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != share]
    env["JUPYTER_PATH"] = os.pathsep.join([share, *others])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _error_row(
    job: Job,
    reason: str,
    exercises: list[str] | None = None,
    points: dict[str, float] | None = None,
) -> Row:
    exercises = exercises or []
    row = Row(
        job.student,
        job.lesson,
        exercises,
        {g: 0.0 for g in exercises},
        points or {},
        0.0,
        sum((points or {}).values()) if exercises else "",
        "error",
        reason,
        detect_device(),
    )
    return row


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def grade_one(job: Job) -> Row:
    """Grade one submission in its own nbgrader course root; never raises for bad input."""
    return run_one(job)[0]


def run_one(job: Job) -> tuple[Row, dict]:
    """Grade one submission; return its row and what the grading process reported
    (``result.json``: the guard's findings and, for an answer-key run, the values recorded)."""
    if job.error or job.template is None or job.notebook is None:
        return _error_row(job, _join(job.error or "nothing to grade", job.note)), {}
    template = Path(job.template)
    exercises, points = lesson_exercises(template, job.lesson)
    try:
        size = Path(job.notebook).stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            reason = f"the notebook is {size >> 20} MB; at most {MAX_NOTEBOOK_BYTES >> 20} MB"
            return _error_row(job, _join(reason, job.note), exercises, points), {}
        raw = Path(job.notebook).read_bytes()
    except OSError as exc:
        return _error_row(job, f"cannot read the submission: {exc}", exercises, points), {}
    source = notebooks.load(template / "source" / job.lesson / f"{job.lesson}.ipynb")
    release = notebooks.load(template / "release" / job.lesson / f"{job.lesson}.ipynb")
    fixed = sanitize(raw, source, release)
    if fixed.nb is None:
        return _error_row(job, _join(fixed.error, job.note), exercises, points), {}
    notes = _join(job.note, *fixed.notes)

    student = slug(job.student)
    root = Path(job.workdir)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(template / "source", root / "source")
    shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
    submitted = root / "submitted" / student / job.lesson / f"{job.lesson}.ipynb"
    submitted.parent.mkdir(parents=True)
    submitted.write_text(json.dumps(fixed.nb, indent=1, ensure_ascii=False), encoding="utf-8")
    sandbox = {
        "isolate": job.isolate,
        "env": {FAST_ENV_VAR: "1"} if job.fast else {},
        "threads": job.threads,
    }
    if job.limits:
        sandbox["limits"] = job.limits
    spec = {"lesson": job.lesson, "student": student, "timeout": job.timeout, "sandbox": sandbox}
    (root / "job.json").write_text(json.dumps({**spec, "key": job.key, "record": job.record}))

    code_cells = sum(1 for c in fixed.nb["cells"] if c["cell_type"] == "code")
    limit = job.timeout * (code_cells + 2) + 120
    outcome = _run_job(root, job_env(job.fast), limit)
    result_file = root / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    if not result.get("autograded"):
        reason = _join(_failure_reason(result, outcome), notes)
        return _error_row(job, reason, exercises, points), result

    scores = _read_scores(root, job.lesson, student)
    autograded = root / "autograded" / student / job.lesson / f"{job.lesson}.ipynb"
    messages = _messages(autograded)
    died = (result.get("died_at") or {}).get("reason")
    notes = _join(notes, *_timeouts(autograded, job.timeout))
    if died:
        notes = _join(notes, f"{died}; the cells after it did not run")
    row = Row(
        job.student,
        job.lesson,
        exercises,
        {g: float(scores.get(g, 0.0)) for g in exercises},
        points,
        status="graded",
        reason=notes,
        device=detect_device(),
        messages=messages,
    )
    row.total = sum(row.scores.values())
    row.max_score = sum(points.values())
    findings = result.get("guard")
    if findings is None:  # the guard runs with and without the sandbox
        findings = ["the integrity guard did not report, so no result can be trusted"]
    if findings:
        withhold(row, findings)
    html = root / "feedback" / student / job.lesson / f"{job.lesson}.html"
    if job.record:
        return row, result
    if html.is_file():
        dest = Path(job.feedback_dir) / student / f"{job.lesson}.html"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, dest)
        row.feedback = str(dest)
    else:
        row.reason = _join(row.reason, "feedback could not be generated")
    return row, result


def withhold(row: Row, findings: list[str]) -> None:
    """Flag ``row`` for review: its points are withheld and the findings become the reason.

    The scores that were measured stay in the reason, so the reviewer can restore them.
    """
    measured = ", ".join(f"{g} {row.scores[g]:g}" for g in row.exercises)
    row.status = "flagged"
    row.reason = _join(
        "flagged for review: " + "; ".join(findings),
        f"points withheld (measured {row.total:g}/{row.max_score:g}: {measured})",
        row.reason,
    )
    row.scores = {}
    row.total = ""


def _run_job(root: Path, env: dict[str, str], limit: float) -> str:
    """Run the job of ``root`` (:mod:`autograder.job`) in a process of its own, in its own
    session; return '' or why it did not finish.

    When this process has a single thread, the job is a fork of it with nbgrader already
    imported (about 2 s less per submission than a fresh ``python -m autograder.job``);
    otherwise, and where fork does not exist, a new interpreter starts.
    """
    with open(root / "job.log", "wb") as log:
        if hasattr(os, "fork") and threading.active_count() == 1:
            preload_job()
            pid = _fork_job(root, env, log.fileno())
        else:
            pid = subprocess.Popen(
                [sys.executable, "-m", "autograder.job", str(root)],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            ).pid
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return f"grading took longer than {limit:.0f} s and was stopped"
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return "" if code == 0 else f"the grading process failed (exit code {code})"


@functools.cache
def preload_job() -> None:
    """Import what a job runs (nbgrader, nbconvert, the kernel manager) once per process."""
    import nbgrader.converters  # noqa: F401

    import autograder.job  # noqa: F401
    import autograder.preprocessors  # noqa: F401
    import autograder.sandbox  # noqa: F401


def _fork_job(root: Path, env: dict[str, str], log_fd: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: a job process like `python -m autograder.job root`
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.chdir(root)
        os.environ.clear()
        os.environ.update(env)
        from autograder import job

        code = job.main([str(root)])
    except BaseException:  # noqa: BLE001  (reported in job.log; the parent sees exit code 1)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _failure_reason(result: dict, outcome: str) -> str:
    died = result.get("died_at")
    if died:
        where = f"cell {died['index'] + 1}"
        if died.get("grade_id"):
            where += f" ({died['grade_id']})"
        elif died.get("first_line"):
            where += f" ({died['first_line']!r})"
        return f"the kernel died (e.g. out of memory or a crash) while running {where}"
    log = result.get("log", "")
    if "UnresponsiveKernelError" in log or "became unresponsive" in log:
        return "the kernel stopped responding and could not be interrupted"
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died (e.g. out of memory or a crash) while running the notebook"
    if outcome:
        return outcome
    last = [ln for ln in log.splitlines() if ln.strip()][-1:] or ["no log"]
    return f"nbgrader could not grade the submission: {last[0][:200]}"


def _read_scores(root: Path, lesson: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(lesson, lesson, student)
        return {g.name: float(g.score or 0.0) for g in nb.grades}


def _timeouts(path: Path, timeout: int) -> list[str]:
    """A note for every cell that ran past the per-cell timeout and was interrupted."""
    if not path.is_file():
        return []
    notes = []
    for index, cell in enumerate(notebooks.load(path)["cells"]):
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            name = notebooks.grade_id(cell) or f"cell {index + 1}"
            notes.append(f"{name} ran longer than {timeout} s and was interrupted")
    return notes


def _messages(path: Path) -> dict[str, str]:
    """The first line of the error of every failing graded cell of the autograded notebook."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for cell in notebooks.load(path)["cells"]:
        gid = notebooks.grade_id(cell)
        if gid is None or not notebooks.is_test_cell(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
                out[gid] = f"{output.get('ename', 'Error')}: {first}".rstrip(": ")
                break
    return out


def __getattr__(name: str):
    """``grade_batch``, ``build_jobs`` and ``BatchResult`` live in :mod:`autograder.batch`."""
    if name in ("BatchResult", "build_jobs", "grade_batch"):
        from autograder import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
