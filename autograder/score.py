"""The *score* step: a graded job folder becomes one row of ``grades.csv``.

Scores come from the job's gradebook (nbgrader scored each test cell from its outputs, the
grader's judgement of the values included); the reason column collects what was repaired, cells
that ran out of time, where a kernel died, and, for a flagged row, the guard's findings with
the scores that were measured and withheld.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from autograder import notebooks
from autograder.device import detect_device
from autograder.spec import JobSpec, RunResult


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


def join(*parts: str | None) -> str:
    """Reasons joined with "; ", empty ones left out."""
    return "; ".join(p for p in parts if p)


def error_row(
    spec: JobSpec,
    reason: str,
    exercises: list[str] | None = None,
    points: dict[str, float] | None = None,
) -> Row:
    """A row for a submission that could not be graded (``status == "error"``)."""
    exercises = exercises or []
    return Row(
        spec.student,
        spec.lesson,
        exercises,
        {g: 0.0 for g in exercises},
        points or {},
        0.0,
        sum((points or {}).values()) if exercises else "",
        "error",
        reason,
        detect_device(),
    )


def graded_row(
    spec: JobSpec,
    root: Path,
    student: str,
    result: RunResult,
    exercises: list[str],
    points: dict[str, float],
    notes: str,
) -> Row:
    """The row of a job that nbgrader autograded in ``root`` (flagged when the guard found
    anything, or never reported)."""
    scores = read_scores(root, spec.lesson, student)
    autograded = root / "autograded" / student / spec.lesson / f"{spec.lesson}.ipynb"
    died = (result.died_at or {}).get("reason")
    notes = join(notes, *timeouts(autograded, spec.timeout))
    if died:
        notes = join(notes, f"{died}; the cells after it did not run")
    row = Row(
        spec.student,
        spec.lesson,
        exercises,
        {g: float(scores.get(g, 0.0)) for g in exercises},
        points,
        status="graded",
        reason=notes,
        device=detect_device(),
        messages=messages(autograded),
    )
    row.total = sum(row.scores.values())
    row.max_score = sum(points.values())
    findings = result.guard
    if findings is None:  # the guard runs with and without the sandbox
        findings = ["the integrity guard did not report, so no result can be trusted"]
    if findings:
        withhold(row, findings)
    return row


def withhold(row: Row, findings: list[str]) -> None:
    """Flag ``row`` for review: its points are withheld and the findings become the reason.

    The scores that were measured stay in the reason, so the reviewer can restore them.
    """
    measured = ", ".join(f"{g} {row.scores[g]:g}" for g in row.exercises)
    row.status = "flagged"
    row.reason = join(
        "flagged for review: " + "; ".join(findings),
        f"points withheld (measured {row.total:g}/{row.max_score:g}: {measured})",
        row.reason,
    )
    row.scores = {}
    row.total = ""


def failure_reason(result: RunResult | None, outcome: str) -> str:
    """Why nbgrader could not autograde a job, in a learner's words where possible."""
    result = result or RunResult()
    died = result.died_at
    if died:
        where = f"cell {died['index'] + 1}"
        if died.get("grade_id"):
            where += f" ({died['grade_id']})"
        elif died.get("first_line"):
            where += f" ({died['first_line']!r})"
        return f"the kernel died (e.g. out of memory or a crash) while running {where}"
    log = result.log
    if "UnresponsiveKernelError" in log or "became unresponsive" in log:
        return "the kernel stopped responding and could not be interrupted"
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died (e.g. out of memory or a crash) while running the notebook"
    if outcome:
        return outcome
    last = [ln for ln in log.splitlines() if ln.strip()][-1:] or ["no log"]
    return f"nbgrader could not grade the submission: {last[0][:200]}"


def read_scores(root: Path, lesson: str, student: str) -> dict[str, float]:
    """Each grade cell's score in the job's gradebook."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(lesson, lesson, student)
        return {g.name: float(g.score or 0.0) for g in nb.grades}


def timeouts(path: Path, timeout: int) -> list[str]:
    """A note for every cell that ran past the per-cell timeout and was interrupted."""
    if not path.is_file():
        return []
    notes = []
    for index, cell in enumerate(notebooks.load(path)["cells"]):
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            name = notebooks.grade_id(cell) or f"cell {index + 1}"
            notes.append(f"{name} ran longer than {timeout} s and was interrupted")
    return notes


def messages(path: Path) -> dict[str, str]:
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
