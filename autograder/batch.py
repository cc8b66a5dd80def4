"""Grade a batch of submissions: resumable, in a process pool or on a Dask cluster.

Each submission's :class:`~autograder.grade.Row` is saved as soon as it is graded, atomically,
in ``<out>/rows/<student>__<lesson>.json`` together with a key: a SHA-256 over everything the
grade depends on (the submission's bytes, the lesson's source folder, the grading options, the
grader's version). A later run over the same out folder reuses every row whose key still
matches and grades only the rest, so a batch that was killed (or a class where a few students
handed in again) is finished without grading anything twice; ``fresh=True`` regrades all.
The feedback page is in ``<out>/feedback/`` before its row file is written: a row file is the
mark that its submission is done.

Jobs run in a process pool (the default: one worker per GPU, each pinned to its GPU, or one
per CPU core without GPUs) or on a Dask distributed cluster (``dask_scheduler``). Jobs hold
only paths: every Dask worker must see the submissions, the results folder and this
repository at the same paths (a shared file system) and run the same Python environment.
With GPUs, start one Dask worker per GPU, each with its own ``CUDA_VISIBLE_DEVICES`` (as
``dask-cuda-worker`` does): rows name the GPU their worker saw.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder import answer_key
from autograder.device import detect_device, gpu_ids
from autograder.grade import (
    DEFAULT_TIMEOUT,
    Job,
    Row,
    grade_one,
    preload_job,
    prepare_template,
    slug,
)
from autograder.paths import SOURCE_DIR, course_dir, list_lessons, resolve_lesson
from autograder.submissions import Submission, discover

KEY_FORMAT = "autograder-row-1"  # change it when a row file or its key changes meaning
ROWS = "rows"
TMP_PREFIX = ".tmp-"
SKIPPED = {".ipynb_checkpoints", "__pycache__"}  # as prepare_template skips them


@dataclass
class BatchResult:
    """Rows of a batch and where its outputs went."""

    rows: list[Row]
    out: Path
    csv: Path
    html: Path
    graded: list[str] = field(default_factory=list)  # row files graded in this run
    reused: list[str] = field(default_factory=list)  # row files kept from an earlier run


# --- keys ------------------------------------------------------------------------------------


def _hash_part(digest: Any, label: str, data: bytes) -> None:
    """Feed a labelled, length-prefixed part into ``digest`` (no two inputs collide)."""
    digest.update(f"{label}\0{len(data)}\0".encode())
    digest.update(data)


def _hash_files(digest: Any, folder: Path) -> None:
    """Feed every file under ``folder`` (caches skipped) into ``digest``, in order."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not SKIPPED.intersection(rel.parts):
            _hash_part(digest, rel.as_posix(), path.read_bytes())


@functools.cache
def grader_version() -> str:
    """The installed version of the course package (the grader and the course library the
    lessons import): upgrading it regrades everything. After editing the grader's code by hand,
    grade with ``fresh=True`` (``--fresh``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("image-course")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def _lesson_digest(source_dir: Path, lesson: str) -> str:
    """SHA-256 of every file of a lesson's source folder (its notebook and anything beside)."""
    digest = hashlib.sha256()
    if lesson and (source_dir / lesson).is_dir():
        _hash_files(digest, source_dir / lesson)
    return digest.hexdigest()


def submission_key(
    sub: Submission, source_dir: Path, timeout: int, fast: bool, sandbox: dict | None = None
) -> str:
    """The key of a submission's row: equal keys mean grading again gives the same row."""
    digest = hashlib.sha256()
    _hash_part(digest, "format", KEY_FORMAT.encode())
    _hash_part(digest, "grader", grader_version().encode())
    # a change to the grader's or the course package's code, or to the libraries, regrades
    _hash_part(digest, "code", answer_key.code_digest().encode())
    _hash_part(digest, "environment", answer_key.environment().encode())
    options = {
        "student": sub.student,
        "lesson": sub.lesson,
        "error": sub.error,
        "note": sub.note,
        "timeout": timeout,
        "fast": fast,
        "sandbox": sandbox or {},
    }
    _hash_part(digest, "options", json.dumps(options, sort_keys=True).encode())
    _hash_part(digest, "lesson", _lesson_digest(source_dir, sub.lesson).encode())
    try:
        raw = sub.path.read_bytes() if sub.path else b""
    except OSError as exc:  # graded as an error row; a later run tries again
        raw = f"unreadable: {exc}".encode()
    _hash_part(digest, "submission", raw)
    return digest.hexdigest()


# --- row files -------------------------------------------------------------------------------


def row_file_names(subs: list[Submission]) -> dict[Submission, str]:
    """``<student>__<lesson or unknown>.json`` per submission; a hash suffix keeps apart
    submissions whose names would be the same (``a b`` and ``a_b``, two unknown lessons)."""
    base = {s: f"{slug(s.student)}__{s.lesson or 'unknown'}" for s in subs}
    counts = Counter(base.values())
    names = {}
    for sub, name in base.items():
        if counts[name] > 1:
            who = f"{sub.student}\0{sub.lesson}\0{sub.path}\0{sub.error}"
            name += "__" + hashlib.sha256(who.encode()).hexdigest()[:8]
        names[sub] = name + ".json"
    return names


def write_row(path: Path, row: Row, key: str, out: Path) -> None:
    """Write a row file atomically: a temporary file in the same folder, fsync, rename."""
    data = asdict(row)
    if row.feedback and Path(row.feedback).is_relative_to(out):
        data["feedback"] = Path(row.feedback).relative_to(out).as_posix()  # out can move
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"key": key, "row": data}, fh, indent=1, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def read_row(path: Path, out: Path) -> tuple[str, Row] | None:
    """(key, row) of a row file, or None when it cannot be read (then it is graded again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        row = Row(**data["row"])
        key = data["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if row.feedback and not Path(row.feedback).is_absolute():
        row.feedback = str(out / row.feedback)
    return key, row


# --- jobs and executors ----------------------------------------------------------------------


def build_jobs(
    submissions: list[Submission],
    templates: dict[str, Path],
    out: Path,
    timeout: int,
    fast: bool,
    names: dict[Submission, str] | None = None,
) -> list[Job]:
    """One :class:`Job` per submission, each with a work folder of its own."""
    jobs = []
    for sub in submissions:
        if names is not None:
            work = out / "work" / Path(names[sub]).stem
        else:
            work = out / "work" / slug(sub.student) / (sub.lesson or "unknown")
        jobs.append(
            Job(
                sub.student,
                sub.lesson,
                str(sub.path) if sub.path else None,
                str(templates[sub.lesson]) if sub.lesson in templates else None,
                str(work),
                str(out / "feedback"),
                timeout,
                fast,
                sub.error,
                sub.note,
            )
        )
    return jobs


def default_workers() -> int:
    """One worker per visible NVIDIA GPU, or one per CPU core when there is none."""
    return len(gpu_ids()) or os.cpu_count() or 1


def pin_gpu(gpus: Any) -> None:
    """Process-pool initializer: pin this worker to the next GPU id of the queue ``gpus``.

    It runs before the worker imports anything that could load TensorFlow; the grading
    subprocess and its kernel inherit ``CUDA_VISIBLE_DEVICES``, and :func:`detect_device` in
    this worker names the pinned GPU in its rows.
    """
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    detect_device.cache_clear()


def start_worker(gpus: Any) -> None:
    """Process-pool initializer: pin the worker to a GPU (when there are GPUs), then import
    what grading needs, so that each job forks from a ready process."""
    if gpus is not None:
        pin_gpu(gpus)
    preload_job()


def process_pool(workers: int, gpus: list[str]) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, started now (they import nbgrader while the
    caller prepares the lessons); with ``gpus``, worker i is pinned to ``gpus[i % len(gpus)]``
    (several workers share a GPU when there are more workers)."""
    ctx = multiprocessing.get_context("spawn")
    queue = None
    if gpus:
        queue = ctx.Queue()
        for i in range(workers):
            queue.put(gpus[i % len(gpus)])
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=start_worker, initargs=(queue,)
    )
    for _ in range(workers):
        pool.submit(int)  # spawns the workers
    return pool


Outcome = Row | BaseException


def _run_here(jobs: list[Job], task: Callable = grade_one) -> Iterator[tuple[Job, Any]]:
    for job in jobs:
        try:
            yield job, task(job)
        except Exception as exc:
            yield job, exc


def _run_pool(
    jobs: list[Job], pool: ProcessPoolExecutor, task: Callable = grade_one
) -> Iterator[tuple[Job, Any]]:
    futures = {pool.submit(task, job): job for job in jobs}
    for future in as_completed(futures):
        try:
            yield futures[future], future.result()
        except Exception as exc:  # e.g. a worker process that died
            yield futures[future], exc


def _run_dask(
    jobs: list[Job], address: str, task: Callable = grade_one
) -> Iterator[tuple[Job, Any]]:
    """Run ``task`` on the Dask cluster whose scheduler is at ``address``, one task per job."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:
        raise ValueError(
            "--dask-scheduler needs Dask distributed: pip install 'image-course[dask]'"
        ) from exc
    with Client(address) as client:
        futures = {client.submit(task, job, pure=False): job for job in jobs}
        for future in dask_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:  # the task raised, or its worker died too often
                yield futures[future], exc
            finally:
                future.release()


def _crash_row(job: Job, exc: BaseException) -> Row:
    return Row(
        job.student,
        job.lesson,
        status="error",
        reason=f"the grader failed: {type(exc).__name__}: {exc}"[:500],
    )


# --- the batch -------------------------------------------------------------------------------


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

    Rows saved in ``out`` by an earlier run are reused when their key matches (see the module
    docstring); ``fresh`` regrades everything. ``workers`` defaults to :func:`default_workers`;
    ``dask_scheduler`` (``tcp://host:port``) grades on a Dask cluster instead of a local pool.
    With ``lesson``, rows of other lessons in ``out`` are left as they are and not reported.
    Every kernel runs in a sandbox (:mod:`autograder.sandbox`) with ``limits`` (fields of
    :class:`~autograder.sandbox.Limits`); without one, grading is refused unless ``isolate``
    is False (``--no-isolation``).
    """
    from tqdm import tqdm

    from autograder import report

    if isolate:
        require_sandbox()
    sandbox = {"isolate": isolate, "limits": limits or {}}
    source_dir = Path(source_dir or SOURCE_DIR).resolve()
    known = list_lessons(source_dir)
    only = None
    if lesson is not None:
        only = resolve_lesson(lesson, known)
        if only is None:
            raise ValueError(f"unknown lesson {lesson!r}; known lessons: {', '.join(known)}")
    out = Path(out or course_dir() / "results").resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows_dir, work = out / ROWS, out / "work"
    stale = [rows_dir, out / "feedback", work] if fresh else [work / "unzipped"]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    subs = discover(submissions_path, known, work, only=only)
    names = row_file_names(subs)

    stored = {}
    rows_dir.mkdir(exist_ok=True)
    for path in rows_dir.iterdir():
        if path.name.startswith(TMP_PREFIX):
            path.unlink(missing_ok=True)  # left by a run that was killed while writing
        elif path.suffix == ".json":
            stored[path.name] = read_row(path, out)
    keys = {sub: submission_key(sub, source_dir, timeout, fast, sandbox) for sub in subs}
    rows: list[Row] = []
    reused: list[str] = []
    pending: list[Submission] = []
    for sub in subs:
        saved = stored.get(names[sub])
        if saved is not None and saved[0] == keys[sub]:
            rows.append(saved[1])
            reused.append(names[sub])
        else:
            pending.append(sub)
            if saved is not None:
                _remove_feedback(saved[1], out)
    wanted = set(names.values())
    kept_pages = {row.feedback for row in rows}
    for name, saved in stored.items():
        if name not in wanted and (only is None or saved is None or saved[1].lesson == only):
            (rows_dir / name).unlink(missing_ok=True)  # a submission that is no longer there
            shutil.rmtree(work / Path(name).stem, ignore_errors=True)
            if saved is not None and saved[1].feedback not in kept_pages:
                _remove_feedback(saved[1], out)

    gpus = gpu_ids()
    workers = workers or default_workers()
    serial = workers <= 1 and not gpus
    pool = process_pool(workers, gpus) if pending and not serial and not dask_scheduler else None
    templates: dict[str, Path] = {}
    broken: dict[str, str] = {}
    for name in sorted({s.lesson for s in pending if s.lesson and not s.error}):
        root = work / "_templates" / name
        shutil.rmtree(root, ignore_errors=True)
        try:
            templates[name] = prepare_template(name, source_dir, root)
        except Exception as exc:  # a broken source notebook: its rows say so, the rest go on
            broken[name] = f"could not prepare lesson {name} for grading: {exc}"[:500]
    # parallel kernels on one machine share its cores (threads) instead of fighting over them
    threads = 0 if dask_scheduler or workers <= 1 else max(1, (os.cpu_count() or 1) // workers)
    base = Job("", "", None, None, "", "", timeout, fast, isolate=isolate, limits=limits,
               threads=threads)  # fmt: skip

    def run(jobs: list[Job], task: Callable) -> Iterator[tuple[Job, Any]]:
        if dask_scheduler:
            return _run_dask(jobs, dask_scheduler, task)
        if pool is not None:
            return _run_pool(jobs, pool, task)
        return _run_here(jobs, task)

    try:
        answer_keys, no_key = answer_key.ensure_keys(
            templates,
            base,
            work / "_keys",
            lambda jobs: run(jobs, answer_key.make_key),
            progress=lambda text: print(text, file=sys.stderr) if progress else None,
        )
        broken.update(no_key)
        # a lesson without a template or a key grades its submissions as errors saying why
        graded_as = [
            Submission(s.student, s.lesson, s.path, broken[s.lesson], s.note)
            if s.lesson in broken and not s.error
            else s
            for s in pending
        ]
        jobs = [
            dataclasses.replace(
                job,
                isolate=isolate,
                limits=limits,
                threads=threads,
                key=answer_keys.get(job.lesson),
            )
            for job in build_jobs(
                graded_as,
                templates,
                out,
                timeout,
                fast,
                {g: names[p] for g, p in zip(graded_as, pending, strict=True)},
            )
        ]
        row_of_job = {id(job): names[sub] for job, sub in zip(jobs, pending, strict=True)}
        key_of_job = {id(job): keys[sub] for job, sub in zip(jobs, pending, strict=True)}
        retry = {id(job) for job, sub in zip(jobs, pending, strict=True) if sub.lesson in broken}
        outcomes = run(jobs, grade_one)
        tqdm.monitor_interval = (
            0  # no monitor thread: jobs are forked from a single-threaded grader
        )
        bar = tqdm(
            total=len(subs),
            initial=len(reused),
            desc="grading",
            unit="submission",
            disable=not progress,
            file=sys.stderr,
        )
        graded: list[str] = []
        for job, outcome in outcomes:
            if isinstance(outcome, BaseException):
                rows.append(_crash_row(job, outcome))  # not saved: a later run tries again
            else:
                rows.append(outcome)
                if id(job) not in retry:
                    write_row(rows_dir / row_of_job[id(job)], outcome, key_of_job[id(job)], out)
                graded.append(row_of_job[id(job)])
            bar.update()
        bar.close()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    rows.sort(key=lambda r: (r.student, r.lesson))
    csv_path = report.write_csv(rows, out / "grades.csv")
    html_path = report.write_html(rows, out / "grades.html")
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return BatchResult(rows, out, csv_path, html_path, graded, reused)


class IsolationError(ValueError):
    """Grading was asked for on a machine that cannot sandbox kernels."""


def require_sandbox() -> None:
    """Raise :class:`IsolationError`, saying what to do, when no sandbox can be built here."""
    from autograder.sandbox import bwrap_path, protections

    if bwrap_path() is None:
        raise IsolationError(
            "cannot isolate submissions on this machine: "
            + protections()["bubblewrap"]
            + ". Student code would run with your permissions, network and files. Install "
            "bubblewrap, or pass --no-isolation to grade anyway (only for code you trust)."
        )


def _remove_feedback(row: Row, out: Path) -> None:
    """Delete the feedback page of a row that is replaced or gone (only inside ``out``)."""
    if row.feedback and Path(row.feedback).resolve().is_relative_to(out / "feedback"):
        Path(row.feedback).unlink(missing_ok=True)
