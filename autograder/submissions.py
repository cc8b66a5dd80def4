"""Find the submissions in a folder or a zip file.

Accepted layouts (mixed in one folder is fine):

- ``<student>/<lesson>/<notebook>.ipynb`` (nbgrader's ``submitted/`` layout);
- ``<student>_<lesson>.ipynb`` in a flat folder, where ``<lesson>`` is a lesson id
  (``alice_01-data-preprocessing.ipynb``) or its number (``alice_01.ipynb``);
- a ``.zip`` of either, possibly wrapped in one top folder.

Anything else becomes a :class:`Submission` with an ``error`` (an error row in the report),
never an exception.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.paths import resolve_lesson

MAX_ZIP_BYTES = 1 << 30  # 1 GiB uncompressed in all
MAX_ZIP_MEMBERS = 20000
EXPECTED = "expected <student>/<lesson>/<notebook>.ipynb or <student>_<lesson>.ipynb"


class SubmissionError(Exception):
    """The submissions path cannot be read at all (missing, empty, unsafe zip)."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lesson, or a file that could not be matched."""

    student: str
    lesson: str  # lesson id; "" when unknown
    path: Path | None
    error: str | None = None
    note: str | None = None


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p in ("__MACOSX", "__pycache__") for p in parts)


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, max_bytes: int = MAX_ZIP_BYTES
) -> Path:
    """Extract ``archive`` into ``dest``, refusing traversal, links and oversized content."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive} is not a readable zip file: {exc}") from exc
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise SubmissionError(
                f"{archive} holds {len(members)} files (at most {MAX_ZIP_MEMBERS} accepted)"
            )
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise SubmissionError(f"{archive} unpacks to {total} bytes (at most {max_bytes})")
        for member in members:
            name = member.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            mode = member.external_attr >> 16
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                continue  # path traversal or an absolute path: skipped
            if stat.S_ISLNK(mode) or member.is_dir() or not parts:
                continue  # links are never created; folders are made as needed
            target = (dest / Path(*parts)).resolve()
            if not target.is_relative_to(dest):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                remaining = member.file_size + 1
                while chunk := src.read(1 << 20):
                    remaining -= len(chunk)
                    if remaining < 0:
                        raise SubmissionError(f"{archive}: {name} is larger than it claims")
                    out.write(chunk)
    return dest


def parse_flat_name(stem: str, lessons: list[str]) -> tuple[str, str | None, str]:
    """Split ``<student>_<lesson>`` into (student, lesson id or None, the lesson as written)."""
    best = None
    for lesson in lessons:
        if stem.endswith("_" + lesson) and len(stem) > len(lesson) + 1:
            if best is None or len(lesson) > len(best):
                best = lesson
    if best:
        return stem[: -len(best) - 1], best, best
    if "_" not in stem:
        return stem, None, ""
    student, suffix = stem.rsplit("_", 1)
    m = re.match(r"^(\d{1,2})(?:$|[-_])", suffix)
    lesson = resolve_lesson(m.group(1), lessons) if m else None
    return student, lesson, suffix


def _looks_like_student_dir(folder: Path, lessons: list[str]) -> bool:
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not _hidden((p.name,))]
    return any(resolve_lesson(p.name, lessons) or re.match(r"^\d\d-", p.name) for p in subdirs)


def _root(folder: Path, lessons: list[str]) -> Path:
    """Descend through a single wrapping folder (as zips often have)."""
    while True:
        entries = [p for p in folder.iterdir() if not _hidden((p.name,))]
        if (
            len(entries) == 1
            and entries[0].is_dir()
            and not _looks_like_student_dir(entries[0], lessons)
        ):
            folder = entries[0]
            continue
        return folder


def discover(
    path: str | os.PathLike, lessons: list[str], workdir: str | os.PathLike, only: str | None = None
) -> list[Submission]:
    """List the submissions under ``path`` (a folder or a zip) for the known ``lessons``.

    ``only`` keeps one lesson. Zips are extracted under ``workdir``.
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"no such file or folder: {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise SubmissionError(f"{path} is neither a folder nor a zip file ({EXPECTED})")
        path = safe_extract(path, Path(workdir) / "unzipped")
    root = _root(path, lessons)
    found: list[Submission] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = file.relative_to(root)
        if _hidden(rel.parts) or "ipynb_checkpoints" in str(rel):
            continue
        found.extend(_classify(file, rel, root, lessons))
    found = _one_per_pair(found)
    if not found:
        raise SubmissionError(f"no notebooks found in {path}: {EXPECTED}")
    if only is not None:
        found = [s for s in found if s.lesson == only]
    return sorted(found, key=lambda s: (s.student, s.lesson, str(s.path)))


def _classify(file: Path, rel: Path, root: Path, lessons: list[str]) -> list[Submission]:
    parts = rel.parts
    if file.is_symlink():
        return [
            Submission(
                parts[0] if len(parts) > 1 else file.stem,
                "",
                None,
                f"{rel}: symbolic links are not accepted",
            )
        ]
    if len(parts) == 1:
        if file.suffix != ".ipynb":
            return [Submission(file.stem, "", None, f"{rel}: not a notebook ({EXPECTED})")]
        student, lesson, written = parse_flat_name(file.stem, lessons)
        if lesson is None:
            why = (
                f"unknown lesson {written!r} in {rel}"
                if written
                else f"cannot tell the student and the lesson from {rel} ({EXPECTED})"
            )
            return [Submission(student, "", None, why)]
        return [Submission(student, lesson, file)]
    if len(parts) == 3 and file.suffix == ".ipynb":
        student, folder = parts[0], parts[1]
        lesson = resolve_lesson(folder, lessons)
        if lesson is None:
            return [Submission(student, "", None, f"unknown lesson {folder!r} in {rel}")]
        return [Submission(student, lesson, file)]
    if len(parts) == 3:
        return []  # extra files a student handed in next to the notebook
    return [Submission(parts[0], "", None, f"{rel}: unexpected location ({EXPECTED})")]


def _one_per_pair(found: list[Submission]) -> list[Submission]:
    """Keep one notebook per (student, lesson): the one named like the lesson, else the first."""
    by_pair: dict[tuple[str, str], list[Submission]] = {}
    out = []
    for sub in found:
        if sub.error:
            out.append(sub)
        else:
            by_pair.setdefault((sub.student, sub.lesson), []).append(sub)
    for (_student, lesson), subs in by_pair.items():
        subs.sort(key=lambda s: (s.path.stem != lesson, str(s.path)))
        chosen = subs[0]
        if len(subs) > 1:
            others = ", ".join(s.path.name for s in subs[1:])
            chosen = Submission(
                chosen.student,
                lesson,
                chosen.path,
                note=f"several notebooks for this lesson: graded "
                f"{chosen.path.name}, ignored {others}",
            )
        out.append(chosen)
    return out
