"""Grade a batch of submissions (``autograder grade``): the pipeline, step by step.

1. **load**: find the submissions under a folder or in a zip (:mod:`autograder.submissions`);
2. **reuse**: keep every row an earlier run saved with a matching key (:mod:`saved_rows`);
3. **prepare**: each lesson's template (:mod:`prepare`) and answer key (:mod:`answer_key`);
4. **grade** each remaining submission, each in isolation (:mod:`submission`: repair, run in a
   sandbox, score), in a pool or on a cluster (:mod:`executors`), saving each row as it comes;
5. **report**: ``grades.csv``, ``grades.html`` (:mod:`report`).

A lesson that cannot be prepared (a broken source, a solution that fails its own tests) grades
its submissions as error rows saying why, and those rows are not saved: a later run tries again.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from autograder import answer_key, report, sandbox
from autograder.executors import Executor, default_workers
from autograder.paths import SOURCE_DIR, course_dir, list_lessons, resolve_lesson
from autograder.prepare import prepare_lesson
from autograder.sandbox import Limits
from autograder.saved_rows import (
    ROWS,
    read_rows,
    remove_feedback,
    row_file_names,
    submission_key,
    write_row,
)
from autograder.score import Row
from autograder.spec import DEFAULT_TIMEOUT, JobSpec
from autograder.submission import grade_submission
from autograder.submissions import Submission, discover


@dataclass
class BatchResult:
    """Rows of a batch and where its outputs went."""

    rows: list[Row]
    out: Path
    csv: Path
    html: Path
    graded: list[str] = field(default_factory=list)  # row files graded in this run
    reused: list[str] = field(default_factory=list)  # row files kept from an earlier run


@dataclass
class Plan:
    """What a run has to do: the submissions, their row files and keys, what is reused."""

    subs: list[Submission]
    names: dict[Submission, str]  # row file name of each submission
    keys: dict[Submission, str]  # row key of each submission
    rows: list[Row] = field(default_factory=list)  # reused rows
    reused: list[str] = field(default_factory=list)
    pending: list[Submission] = field(default_factory=list)


class IsolationError(ValueError):
    """Grading was asked for on a machine that cannot sandbox kernels."""


def require_sandbox() -> None:
    """Raise :class:`IsolationError`, saying what to do, when no sandbox can be built here."""
    if sandbox.bwrap_path() is None:
        raise IsolationError(
            "cannot isolate submissions on this machine: "
            + sandbox.protections()["bubblewrap"]
            + ". Student code would run with your permissions, network and files. Install "
            "bubblewrap, or pass --no-isolation to grade anyway (only for code you trust)."
        )


def grade_batch(
    submissions_path: str | os.PathLike,
    *,
    lesson: str | None = None,
    out: str | os.PathLike | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    fast: bool = False,
    workers: int | None = None,
    source_dir: str | os.PathLike | None = None,
    progress: bool = True,
    keep_work: bool = True,
    fresh: bool = False,
    dask_scheduler: str | None = None,
    isolate: bool = True,
    limits: dict | None = None,
) -> BatchResult:
    """Grade every submission under ``submissions_path``; write grades.csv and feedback.

    Rows saved in ``out`` by an earlier run are reused when their key matches
    (:mod:`autograder.saved_rows`); ``fresh`` regrades everything. ``workers`` defaults to
    :func:`~autograder.executors.default_workers`; ``dask_scheduler`` (``tcp://host:port``)
    grades on a Dask cluster instead of a local pool. With ``lesson``, rows of other lessons in
    ``out`` are left as they are and not reported. Every kernel runs in a sandbox
    (:mod:`autograder.sandbox`) with ``limits`` (fields of :class:`~autograder.sandbox.Limits`);
    without one, grading is refused unless ``isolate`` is False (``--no-isolation``).
    """
    if isolate:
        require_sandbox()
    source_dir = Path(source_dir or SOURCE_DIR).resolve()
    known = list_lessons(source_dir)
    only = None
    if lesson is not None:
        only = resolve_lesson(lesson, known)
        if only is None:
            raise ValueError(f"unknown lesson {lesson!r}; known lessons: {', '.join(known)}")
    out = Path(out or course_dir() / "results").resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    for folder in [out / ROWS, out / "feedback", work] if fresh else [work / "unzipped"]:
        shutil.rmtree(folder, ignore_errors=True)
    options = {"isolate": isolate, "limits": limits or {}}
    plan = _plan(discover(submissions_path, known, work, only=only), out, only, source_dir,
                 lambda sub: submission_key(sub, source_dir, timeout, fast, options))  # fmt: skip

    workers = workers or default_workers()
    # parallel kernels on one machine share its cores (threads) instead of fighting over them
    threads = 0 if dask_scheduler or workers <= 1 else max(1, (os.cpu_count() or 1) // workers)
    base = JobSpec("", "", None, None, "", str(out / "feedback"), timeout, fast,
                   isolate=isolate, limits=Limits(**(limits or {})), threads=threads)  # fmt: skip
    executor = Executor(workers, dask_scheduler=dask_scheduler, start_pool=bool(plan.pending))
    graded: list[str] = []
    try:
        templates, broken = _prepare_lessons(plan.pending, source_dir, work)
        keys, no_key = answer_key.ensure_keys(
            templates,
            base,
            work / "_keys",
            lambda jobs: executor.run(jobs, answer_key.make_key),
            progress=lambda text: print(text, file=sys.stderr) if progress else None,
        )
        broken.update(no_key)
        jobs = _jobs(plan, base, templates, keys, broken, work)
        graded = _grade(plan, jobs, executor, out, broken, progress)
    finally:
        executor.close()

    rows = sorted(plan.rows, key=lambda r: (r.student, r.lesson))
    csv_path = report.write_csv(rows, out / "grades.csv")
    html_path = report.write_html(rows, out / "grades.html")
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return BatchResult(rows, out, csv_path, html_path, graded, plan.reused)


def _plan(subs: list[Submission], out: Path, only: str | None, source_dir: Path, key) -> Plan:
    """Reuse the saved rows whose key matches; forget rows of submissions that are gone."""
    plan = Plan(subs, row_file_names(subs), {sub: key(sub) for sub in subs})
    stored = read_rows(out / ROWS, out)
    for sub in subs:
        saved = stored.get(plan.names[sub])
        if saved is not None and saved[0] == plan.keys[sub]:
            plan.rows.append(saved[1])
            plan.reused.append(plan.names[sub])
        else:
            plan.pending.append(sub)
            if saved is not None:
                remove_feedback(saved[1], out)
    wanted = set(plan.names.values())
    kept_pages = {row.feedback for row in plan.rows}
    for name, saved in stored.items():
        if name not in wanted and (only is None or saved is None or saved[1].lesson == only):
            (out / ROWS / name).unlink(missing_ok=True)  # a submission that is no longer there
            shutil.rmtree(out / "work" / Path(name).stem, ignore_errors=True)
            if saved is not None and saved[1].feedback not in kept_pages:
                remove_feedback(saved[1], out)
    return plan


def _prepare_lessons(
    pending: list[Submission], source_dir: Path, work: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """The template of every lesson that has submissions to grade, and why some have none."""
    templates: dict[str, Path] = {}
    broken: dict[str, str] = {}
    for name in sorted({s.lesson for s in pending if s.lesson and not s.error}):
        root = work / "_templates" / name
        shutil.rmtree(root, ignore_errors=True)
        try:
            templates[name] = prepare_lesson(name, source_dir, root)
        except Exception as exc:  # a broken source notebook: its rows say so, the rest go on
            broken[name] = f"could not prepare lesson {name} for grading: {exc}"[:500]
    return templates, broken


def _jobs(
    plan: Plan,
    base: JobSpec,
    templates: dict[str, Path],
    keys: dict[str, str],
    broken: dict[str, str],
    work: Path,
) -> dict[Submission, JobSpec]:
    """One job per pending submission, each with a work folder of its own; a submission of a
    lesson that could not be prepared becomes a job that says so."""
    jobs = {}
    for sub in plan.pending:
        error = sub.error or broken.get(sub.lesson)
        jobs[sub] = base.with_options(
            student=sub.student,
            lesson=sub.lesson,
            notebook=str(sub.path) if sub.path else None,
            template=str(templates[sub.lesson]) if sub.lesson in templates else None,
            workdir=str(work / Path(plan.names[sub]).stem),
            error=error,
            note=sub.note,
            key=keys.get(sub.lesson),
        )
    return jobs


def _grade(
    plan: Plan,
    jobs: dict[Submission, JobSpec],
    executor: Executor,
    out: Path,
    broken: dict[str, str],
    progress: bool,
) -> list[str]:
    """Grade the jobs; save each row as it comes (not those of unprepared lessons)."""
    sub_of = {id(job): sub for sub, job in jobs.items()}
    tqdm.monitor_interval = 0  # no monitor thread: jobs are forked from a single-threaded grader
    bar = tqdm(
        total=len(plan.subs),
        initial=len(plan.reused),
        desc="grading",
        unit="submission",
        disable=not progress,
        file=sys.stderr,
    )
    graded: list[str] = []
    for job, outcome in executor.run(list(jobs.values()), grade_submission):
        sub = sub_of[id(job)]
        name = plan.names[sub]
        if isinstance(outcome, BaseException):
            plan.rows.append(_crash_row(job, outcome))  # not saved: a later run tries again
        else:
            plan.rows.append(outcome)
            if sub.lesson not in broken:
                write_row(out / ROWS / name, outcome, plan.keys[sub], out)
            graded.append(name)
        bar.update()
    bar.close()
    return graded


def _crash_row(job: JobSpec, exc: BaseException) -> Row:
    return Row(
        job.student,
        job.lesson,
        status="error",
        reason=f"the grader failed: {type(exc).__name__}: {exc}"[:500],
    )
