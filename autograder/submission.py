"""Grade one submission: repair, run, score (the batch runs many of these, :mod:`batch`).

:func:`grade_submission` is a pure function of its :class:`~autograder.spec.JobSpec`: it reads
the submitted file, repairs it against the lesson (:mod:`autograder.repair`), lays out a course
root of its own (``spec.workdir``), runs nbgrader there in a process of its own
(:mod:`autograder.run`) and turns the result into a row (:mod:`autograder.score`). A crash, an
abort or a dead kernel never raises: the row says what happened. So a process pool or a cluster
engine such as Dask can run it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from autograder import notebooks
from autograder.prepare import lesson_exercises
from autograder.repair import repair
from autograder.run import run_job
from autograder.score import Row, error_row, failure_reason, graded_row, join
from autograder.spec import JOB_FILE, JobSpec, RunResult, slug

MAX_NOTEBOOK_BYTES = 64 << 20  # a submitted notebook larger than this is not graded


def grade_submission(spec: JobSpec) -> Row:
    """Grade one submission in its own nbgrader course root; never raises for bad input."""
    return run_submission(spec)[0]


def run_submission(spec: JobSpec) -> tuple[Row, RunResult | None]:
    """Grade one submission; return its row and what the grading process reported (the
    guard's findings and, for an answer-key run, the values the tests sent)."""
    if spec.error or spec.template is None or spec.notebook is None:
        return error_row(spec, join(spec.error or "nothing to grade", spec.note)), None
    template = Path(spec.template)
    exercises, points = lesson_exercises(template, spec.lesson)
    try:
        size = Path(spec.notebook).stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            reason = f"the notebook is {size >> 20} MB; at most {MAX_NOTEBOOK_BYTES >> 20} MB"
            return error_row(spec, join(reason, spec.note), exercises, points), None
        raw = Path(spec.notebook).read_bytes()
    except OSError as exc:
        return error_row(spec, f"cannot read the submission: {exc}", exercises, points), None
    source = notebooks.load(template / "source" / spec.lesson / f"{spec.lesson}.ipynb")
    release = notebooks.load(template / "release" / spec.lesson / f"{spec.lesson}.ipynb")
    fixed = repair(raw, source, release)
    if fixed.nb is None:
        return error_row(spec, join(fixed.error, spec.note), exercises, points), None
    notes = join(spec.note, *fixed.notes)

    student = slug(spec.student)
    root = _course_root(spec, template, student, fixed.nb)
    code_cells = sum(1 for c in fixed.nb["cells"] if c["cell_type"] == "code")
    outcome = run_job(root, spec, limit=spec.timeout * (code_cells + 2) + 120)
    result = RunResult.read(root)
    if result is None or not result.autograded:
        return error_row(spec, join(failure_reason(result, outcome), notes), exercises, points), (
            result
        )
    row = graded_row(spec, root, student, result, exercises, points, notes)
    if not spec.record:
        _publish_feedback(spec, root, student, row)
    return row, result


def _course_root(spec: JobSpec, template: Path, student: str, nb: dict) -> Path:
    """The job's own nbgrader course root: the lesson's source and gradebook, the repaired
    submission and ``job.json``."""
    root = Path(spec.workdir)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(template / "source", root / "source")
    shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
    submitted = root / "submitted" / student / spec.lesson / f"{spec.lesson}.ipynb"
    submitted.parent.mkdir(parents=True)
    submitted.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    (root / JOB_FILE).write_text(spec.to_json(), encoding="utf-8")
    return root


def _publish_feedback(spec: JobSpec, root: Path, student: str, row: Row) -> None:
    """Copy the feedback page where the batch keeps them; note when there is none."""
    html = root / "feedback" / student / spec.lesson / f"{spec.lesson}.html"
    if html.is_file():
        dest = Path(spec.feedback_dir) / student / f"{spec.lesson}.html"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, dest)
        row.feedback = str(dest)
    else:
        row.reason = join(row.reason, "feedback could not be generated")
