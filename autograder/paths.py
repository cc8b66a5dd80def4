"""Where things are: the repository, the course directory, the lessons."""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO / "solutions"
RELEASE_DIR = REPO / "lessons"
CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"
COURSE_DIR_ENV = "AUTOGRADER_COURSE_DIR"
LESSON_RE = re.compile(r"^\d\d-")


def course_dir() -> Path:
    """The instructor's grading folder, outside git: ``$AUTOGRADER_COURSE_DIR`` or ``grading/``."""
    return Path(os.environ.get(COURSE_DIR_ENV) or REPO / "grading").resolve()


def list_lessons(source_dir: str | os.PathLike | None = None) -> list[str]:
    """Lesson ids (folder names such as ``01-data-preprocessing``) under ``source_dir``."""
    base = Path(source_dir or SOURCE_DIR)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and LESSON_RE.match(p.name))


def source_notebook(lesson: str, source_dir: str | os.PathLike | None = None) -> Path:
    """The nbgrader source notebook of ``lesson``."""
    return Path(source_dir or SOURCE_DIR) / lesson / f"{lesson}.ipynb"


def resolve_lesson(name: str, known: list[str]) -> str | None:
    """Map a lesson given by full id (``01-data-preprocessing``) or number (``01``, ``1``)."""
    name = name.strip()
    if name in known:
        return name
    if name.isdigit():
        matches = [k for k in known if int(k[:2]) == int(name)]
        return matches[0] if len(matches) == 1 else None
    return None
