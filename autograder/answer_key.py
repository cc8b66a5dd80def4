"""A lesson's answer key: what its tests send to the grader when they run on the solution.

Before grading submissions of a lesson, the grader grades the lesson's own source notebook
(solutions and hidden tests) once, in the same sandbox, with the same guard and the same
options, and records the values every test cell sends (:mod:`autograder.judging`) and the
library functions the lesson's own code rebinds (the guard allows those, and only those). The
solution must score full marks with no finding; otherwise there is no key and the lesson's
submissions are not graded (the reason says what failed).

Keys are cached in ``$AUTOGRADER_CACHE_DIR/answer-keys`` (default ``~/.cache/autograder``),
one file per lesson and digest. The digest covers everything a key depends on: the lesson's
source folder, test mode, the code of the ``autograder`` and ``course`` packages, the versions
of the numerical libraries and Python, and the kind of device. The first grading of a lesson
on a machine pays one run of its solution; later batches and ``autograder validate`` reuse it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from autograder.device import gpu_ids
from autograder.judging import key_entries
from autograder.prepare import prepare_lesson
from autograder.spec import JobSpec
from autograder.submission import run_submission

KEY_FORMAT = "autograder-key-1"  # change it when a key file changes meaning
CACHE_ENV = "AUTOGRADER_CACHE_DIR"
STUDENT = "answer-key"
LIBRARIES = ("numpy", "scipy", "scikit-learn", "scikit-image", "keras", "tensorflow",
             "ai-edge-litert", "nbgrader", "ipykernel")  # fmt: skip


class AnswerKeyError(RuntimeError):
    """The solution did not give a usable key; the message says why."""


def cache_dir() -> Path:
    """Where keys are kept."""
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "autograder"
    return Path(base) / "answer-keys"


@functools.cache
def code_digest() -> str:
    """SHA-256 of the code of the grader and of the course package the lessons import."""
    import autograder
    import course

    digest = hashlib.sha256()
    for package in (autograder, course):
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def environment() -> str:
    """Python, library versions and the kind of device: what a value may depend on."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"python {platform.python_version()}", f"device {'gpu' if gpu_ids() else 'cpu'}"]
    for name in LIBRARIES:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} -")
    return "; ".join(parts)


def key_digest(template: Path, lesson: str, fast: bool) -> str:
    """The digest of ``lesson``'s key for this machine, code and mode."""
    digest = hashlib.sha256()
    for part in (KEY_FORMAT, code_digest(), environment(), f"fast={bool(fast)}", lesson):
        digest.update(part.encode() + b"\0")
    folder = template / "source" / lesson
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key_path(lesson: str, digest: str) -> Path:
    """The cache file of a key."""
    return cache_dir() / f"{lesson}-{digest[:20]}.json"


def key_job(lesson: str, template: Path, workdir: Path, base: JobSpec) -> JobSpec:
    """The job that grades the lesson's solution to record its key (options as ``base``)."""
    notebook = template / "source" / lesson / f"{lesson}.ipynb"
    return base.with_options(
        student=STUDENT,
        lesson=lesson,
        notebook=str(notebook),
        template=str(template),
        workdir=str(workdir),
        feedback_dir=str(workdir / "feedback"),
        error=None,
        note=None,
        key=None,
        record=True,
    )


def make_key(job: JobSpec) -> dict[str, Any]:
    """Grade the solution in ``job`` (an answer-key job) and build its key; raise
    :class:`AnswerKeyError` saying what to fix when the solution is not a clean full mark."""
    started = time.monotonic()
    row, result = run_submission(job)
    where = f"the solution of {job.lesson}"
    if row.status != "graded":
        raise AnswerKeyError(f"{where} could not be graded: {row.reason}")
    failing = {g: row.messages.get(g, "failed") for g, s in row.scores.items()
               if s < row.max_scores.get(g, 0)}  # fmt: skip
    if failing:
        detail = "; ".join(f"{g}: {m}" for g, m in failing.items())
        raise AnswerKeyError(f"{where} does not pass its own tests when graded: {detail}")
    cells, problems = {}, []
    for gid, lines in result.recorded.items():
        entries, wrong = key_entries(lines)
        cells[gid] = entries
        problems += [f"{gid}: {w}" for w in wrong]
    if problems:
        raise AnswerKeyError(
            f"the tests of {job.lesson} send values that cannot be judged: " + "; ".join(problems)
        )
    return {
        "format": KEY_FORMAT,
        "lesson": job.lesson,
        "fast": job.fast,
        "environment": environment(),
        "cells": cells,
        "rebinds": result.rebinds,
        "seconds": round(time.monotonic() - started, 1),
    }


KEEP_PER_LESSON = 8  # older keys of a lesson (other code, other modes) are removed


def write_key(path: Path, key: dict[str, Any]) -> None:
    """Write a key file atomically (several graders may share the cache); keep the cache small:
    only the :data:`KEEP_PER_LESSON` most recent keys of each lesson stay."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(key, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    lesson = path.name.rsplit("-", 1)[0]
    try:
        same = sorted(path.parent.glob(f"{lesson}-*.json"), key=lambda p: p.stat().st_mtime)
        for old in same[:-KEEP_PER_LESSON]:
            old.unlink(missing_ok=True)
    except OSError:  # another grader pruned at the same time
        pass


def read_key(path: Path) -> dict[str, Any] | None:
    """A cached key, or None when missing or unreadable (it is then made again)."""
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return key if isinstance(key, dict) and key.get("format") == KEY_FORMAT else None


Runner = Callable[[list[JobSpec]], Iterable[tuple[JobSpec, Any]]]


def ensure_keys(
    templates: dict[str, Path],
    base: JobSpec,
    workdir: Path,
    run: Runner,
    progress: Callable[[str], None] = lambda text: None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The key file of every lesson in ``templates``, made (through ``run``, which maps jobs
    to :func:`make_key`'s results or exceptions) where the cache has none.

    Returns ``(keys, errors)``: lesson -> key path, and lesson -> why there is no key.
    """
    keys: dict[str, str] = {}
    errors: dict[str, str] = {}
    todo: dict[str, tuple[Path, JobSpec]] = {}
    for lesson, template in templates.items():
        path = key_path(lesson, key_digest(template, lesson, base.fast))
        if read_key(path) is not None:
            keys[lesson] = str(path)
        else:
            todo[lesson] = (path, key_job(lesson, template, workdir / lesson, base))
    if todo:
        progress(f"answer keys: running the solution of {', '.join(sorted(todo))} once")
    for job, outcome in run([job for _, job in todo.values()]):
        path = todo[job.lesson][0]
        if isinstance(outcome, BaseException):
            errors[job.lesson] = f"no answer key for {job.lesson}: {outcome}"[:2000]
        else:
            write_key(path, outcome)
            keys[job.lesson] = str(path)
    return keys, errors


def prepare(
    lesson: str,
    *,
    source_dir: Path,
    fast: bool,
    timeout: int,
    isolate: bool = True,
    progress: Callable[[str], None] = lambda text: None,
) -> str:
    """The key file of one lesson, made now when the cache has none (``autograder key``);
    raises :class:`AnswerKeyError` saying why there is none."""
    with tempfile.TemporaryDirectory(prefix="autograder-key-") as tmp:
        template = prepare_lesson(lesson, source_dir, Path(tmp) / "template")
        base = JobSpec("", lesson, None, None, "", "", timeout, fast, isolate=isolate)
        keys, errors = ensure_keys({lesson: template}, base, Path(tmp) / "keys", run_here, progress)
    if errors:
        raise AnswerKeyError(errors[lesson])
    return keys[lesson]


def run_here(jobs: list[JobSpec]) -> Iterator[tuple[JobSpec, Any]]:
    """Make keys one after another in this process."""
    for job in jobs:
        try:
            yield job, make_key(job)
        except Exception as exc:  # noqa: BLE001  (reported as the lesson's error)
            yield job, exc
