"""Find the course's lessons and run them headless (``course lessons``, ``course run``)."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.env import FAST_ENV_VAR, QUIET_ENV

LESSON_DIR = re.compile(r"^\d\d-[a-z0-9-]+$")


def repo_root() -> Path:
    """The course checkout: the folder holding ``solutions/`` and ``lessons/``.

    ``$COURSE_ROOT`` wins; otherwise the folder above this package (an editable install, as
    ``make lab`` makes), then the current directory and its parents.
    """
    candidates = []
    if os.environ.get("COURSE_ROOT"):
        candidates.append(Path(os.environ["COURSE_ROOT"]))
    candidates.append(Path(__file__).resolve().parent.parent)
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    for root in candidates:
        if (root / "solutions").is_dir() and (root / "lessons").is_dir():
            return root
    raise FileNotFoundError(
        "could not find the course folder (one holding solutions/ and lessons/). "
        "Run this from inside your clone of the course, or set COURSE_ROOT=/path/to/course."
    )


@dataclass(frozen=True)
class Lesson:
    id: str  # e.g. "01-data-preprocessing"
    title: str
    path: Path  # the notebook
    exercises: int
    points: float

    @property
    def number(self) -> str:
        return self.id[:2]


def _summary(path: Path) -> tuple[str, int, float]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    title = path.stem
    exercises, points = 0, 0.0
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown" and title == path.stem:
            heading = next((ln for ln in source.splitlines() if ln.startswith("# ")), None)
            if heading:
                title = heading[2:].strip()
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.get("cell_type") == "code":
            exercises += 1
            points += float(meta.get("points", 0))
    return title, exercises, points


def find_lessons(source: str = "solutions", root: Path | None = None) -> list[Lesson]:
    """Every lesson under ``root/source`` (``solutions`` or ``lessons``), in order."""
    base = (root or repo_root()) / source
    found = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and LESSON_DIR.match(p.name)):
        notebook = folder / f"{folder.name}.ipynb"
        if notebook.is_file():
            title, exercises, points = _summary(notebook)
            found.append(Lesson(folder.name, title, notebook, exercises, points))
    return found


def select(lessons: list[Lesson], wanted: list[str]) -> list[Lesson]:
    """Pick lessons by id or number ("01", "1", "01-data-preprocessing"); all when empty."""
    if not wanted:
        return lessons
    chosen = []
    for key in wanted:
        matches = [
            lesson
            for lesson in lessons
            if key == lesson.id or (key.isdigit() and int(key) == int(lesson.number))
        ]
        if not matches:
            known = ", ".join(lesson.id for lesson in lessons)
            raise ValueError(f"no lesson {key!r}; the lessons are: {known}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


@dataclass
class RunResult:
    lesson: Lesson
    ok: bool
    seconds: float
    notebook: Path
    html: Path | None
    error: str = ""


def run_lesson(
    lesson: Lesson,
    out_dir: Path,
    *,
    fast: bool = False,
    parameters: dict[str, Any] | None = None,
    progress: bool = True,
    timeout: int = 600,
) -> RunResult:
    """Execute one lesson with papermill into ``out_dir`` and render it to HTML."""
    import papermill
    from nbconvert import HTMLExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{lesson.id}.ipynb"
    html = out_dir / f"{lesson.id}.html"
    # The kernel inherits this environment: quiet TensorFlow, the test-mode flag, and no
    # MPLBACKEND (a non-interactive backend set for scripts would hide every plot).
    saved = {k: os.environ.get(k) for k in (*QUIET_ENV, FAST_ENV_VAR, "MPLBACKEND")}
    os.environ.update(QUIET_ENV)
    os.environ[FAST_ENV_VAR] = "1" if fast else "0"
    os.environ.pop("MPLBACKEND", None)
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(lesson.path),
            str(executed),
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(lesson.path.parent),
            progress_bar={"desc": lesson.id, "leave": False} if progress else False,
            execution_timeout=timeout,
            log_output=False,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        error = _first_lines(str(exc))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    html_path = None
    if executed.exists():
        body, _ = HTMLExporter().from_filename(str(executed))
        html.write_text(body, encoding="utf-8")
        html_path = html
    return RunResult(lesson, not error, seconds, executed, html_path, error)


def _first_lines(text: str, limit: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-limit:])
