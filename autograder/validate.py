"""``autograder validate NOTEBOOK``: what a student runs before handing a notebook in.

It runs the same integrity checks and the same grading pipeline as ``autograder grade``
(hidden tests included) in a temporary folder, and prints one line per exercise.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from autograder import answer_key
from autograder.paths import SOURCE_DIR, list_lessons, resolve_lesson
from autograder.prepare import prepare_lesson
from autograder.sandbox import bwrap_path
from autograder.spec import DEFAULT_TIMEOUT, JobSpec
from autograder.submission import grade_submission
from autograder.submissions import parse_flat_name


def find_lesson(notebook: Path, known: list[str]) -> str | None:
    """The lesson of a notebook, from its file name or its folder name."""
    for name in (notebook.stem, notebook.parent.name):
        lesson = resolve_lesson(name, known)
        if lesson:
            return lesson
        if "_" in name:
            _student, lesson, _written = parse_flat_name(name, known)
            if lesson:
                return lesson
    prefix = notebook.stem[:2]
    return resolve_lesson(prefix, known) if prefix.isdigit() else None


def validate(
    notebook: str | os.PathLike,
    *,
    timeout: int = DEFAULT_TIMEOUT,
    fast: bool = False,
    source_dir: str | os.PathLike | None = None,
    lesson: str | None = None,
    progress=lambda text: print(text, file=sys.stderr),
) -> tuple[bool, str]:
    """Check and run ``notebook``; return (everything passed, the report to print).

    The first validation of a lesson on a machine also runs its solution once, to make the
    answer key the hidden tests are judged against (:mod:`autograder.answer_key`); ``progress``
    is told when that happens."""
    notebook = Path(notebook)
    source_dir = Path(source_dir or SOURCE_DIR)
    known = list_lessons(source_dir)
    if not notebook.is_file():
        return False, f"no such notebook: {notebook}"
    name = resolve_lesson(lesson, known) if lesson else find_lesson(notebook, known)
    if name is None:
        return False, (
            f"cannot tell which lesson {notebook.name} belongs to; name it like the "
            f"lesson (e.g. {known[0] if known else '01-data-preprocessing'}.ipynb) "
            "or pass --lesson"
        )
    with tempfile.TemporaryDirectory(prefix="autograder-validate-") as tmp:
        template = prepare_lesson(name, source_dir, Path(tmp) / "template")
        job = JobSpec(
            "you",
            name,
            str(notebook),
            str(template),
            str(Path(tmp) / "work"),
            str(Path(tmp) / "feedback"),
            timeout,
            fast,
            isolate=bwrap_path() is not None,  # a student's own laptop may have no sandbox
        )
        keys, errors = answer_key.ensure_keys(
            {name: template}, job, Path(tmp) / "keys", answer_key.run_here, progress=progress
        )
        if errors:
            return False, f"{notebook} ({name})\n  could not grade: {errors[name]}"
        row = grade_submission(job.with_options(key=keys[name]))
    lines = [f"{notebook} ({name})"]
    for note in filter(None, row.reason.split("; ")):
        lines.append(f"  warning: {note}")
    if row.status != "graded":
        lines.append("  could not grade this notebook; fix the problem above and try again")
        return False, "\n".join(lines)
    passed = True
    for gid in row.exercises:
        got, out_of = row.scores.get(gid, 0.0), row.max_scores.get(gid, 0.0)
        ok = got >= out_of
        passed &= ok
        line = f"  {gid}: {'passed' if ok else 'FAILED'} ({got:g}/{out_of:g} points)"
        if not ok and row.messages.get(gid):
            line += f": {row.messages[gid]}"
        lines.append(line)
    lines.append(f"  total: {row.total:g}/{row.max_score:g} points")
    lines.append("  all tests pass" if passed else "  some tests fail")
    return passed, "\n".join(lines)
