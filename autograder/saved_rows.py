"""Saved rows: what makes a batch resumable and a regrade cheap.

Each submission's :class:`~autograder.score.Row` is saved as soon as it is graded, atomically,
in ``<out>/rows/<student>__<lesson>.json`` together with a key: a SHA-256 over everything the
grade depends on (the submission's bytes, the lesson's source folder, the grading options, the
code of the grader and of the course package, the library versions). A later run over the same
out folder reuses every row whose key still matches and grades only the rest, so a batch that
was killed (or a class where a few students handed in again) is finished without grading
anything twice, and a change of the grader's code regrades. The feedback page is in
``<out>/feedback/`` before its row file is written: a row file is the mark that its submission
is done.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autograder.answer_key import code_digest, environment
from autograder.score import Row
from autograder.spec import slug
from autograder.submissions import Submission

KEY_FORMAT = "autograder-row-2"  # change it when a row file or its key changes meaning
ROWS = "rows"
TMP_PREFIX = ".tmp-"
SKIPPED = {".ipynb_checkpoints", "__pycache__"}  # as prepare_lesson skips them


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
def lesson_digest(source_dir: Path, lesson: str) -> str:
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
    # a change to the grader's or the course package's code, or to the libraries, regrades
    _hash_part(digest, "code", code_digest().encode())
    _hash_part(digest, "environment", environment().encode())
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
    _hash_part(digest, "lesson", lesson_digest(source_dir, sub.lesson).encode())
    try:
        raw = sub.path.read_bytes() if sub.path else b""
    except OSError as exc:  # graded as an error row; a later run tries again
        raw = f"unreadable: {exc}".encode()
    _hash_part(digest, "submission", raw)
    return digest.hexdigest()


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


def read_rows(rows_dir: Path, out: Path) -> dict[str, tuple[str, Row] | None]:
    """Every row file of ``rows_dir`` by name; temporary files of a killed run are removed."""
    stored = {}
    rows_dir.mkdir(parents=True, exist_ok=True)
    for path in rows_dir.iterdir():
        if path.name.startswith(TMP_PREFIX):
            path.unlink(missing_ok=True)  # left by a run that was killed while writing
        elif path.suffix == ".json":
            stored[path.name] = read_row(path, out)
    return stored


def remove_feedback(row: Row, out: Path) -> None:
    """Delete the feedback page of a row that is replaced or gone (only inside ``out``)."""
    if row.feedback and Path(row.feedback).resolve().is_relative_to(out / "feedback"):
        Path(row.feedback).unlink(missing_ok=True)
