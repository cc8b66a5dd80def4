"""The real lessons graded: submissions built from the answer fixtures, graded in one batch,
and the checks every lesson's grades must pass.

``tests/lessons/test_lesson_grading_even.py`` and ``..._odd.py`` grade the lessons with even
and odd numbers, so the two test workers (``make test``) share the work; both import the
checks below and parametrise them over their own lessons (``pytest_generate_tests``).

A lesson's answers live in ``tests/fixtures/answers/lesson_NN.py``: ``WRONG`` and
``ALTERNATIVE`` map solution cells to code a student might write (all in one submission), and
``MORE_WRONG`` / ``MORE_ALTERNATIVE`` list further ``(grade_id, code)`` pairs, grouped into as
few submissions as hold them (one answer per exercise each). ``DELEGATES`` lists answers that
hand the work to the ``course`` package: each must score 0 on its exercise (the exercise rule
the grader enforces), or be flagged.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from types import ModuleType

from autograder import nbg, notebooks
from autograder.batch import grade_batch
from helpers import REPO

LESSONS = sorted(
    p.name for p in (REPO / "solutions").glob("[0-9][0-9]-*/") if (p / f"{p.name}.ipynb").is_file()
)


def lessons_numbered(parity: int) -> list[str]:
    """The lessons whose number is even (0) or odd (1)."""
    return [lesson for lesson in LESSONS if int(lesson[:2]) % 2 == parity]


def solved(source: dict, release: dict, replace: dict[str, str] | None = None) -> dict:
    """The student notebook with every solution cell answered as in the source, except the
    cells named in ``replace`` (grade_id -> code)."""
    release = copy.deepcopy(release)
    answers = {notebooks.grade_id(c): c["source"] for c in source["cells"]}
    answers.update(replace or {})
    for cell in release["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return release


def answer_fixture(lesson: str) -> ModuleType | None:
    """``tests/fixtures/answers/lesson_NN.py`` for lesson ``NN-...``, if there is one."""
    try:
        return importlib.import_module(f"fixtures.answers.lesson_{lesson[:2]}")
    except ModuleNotFoundError:
        return None


def answer_submissions(lesson: str) -> dict[str, dict[str, str]]:
    """Submission name -> the solution cells it answers differently (grade_id -> code)."""
    module = answer_fixture(lesson)
    if module is None:
        return {}
    subs = {"wrong": dict(module.WRONG), "alternative": dict(module.ALTERNATIVE)}
    for kind, entries in (
        ("wrong", getattr(module, "MORE_WRONG", [])),
        ("alternative", getattr(module, "MORE_ALTERNATIVE", [])),
        ("delegates", getattr(module, "DELEGATES", [])),
    ):
        for i, group in enumerate(_grouped(entries)):
            subs[f"{kind}-{i + 1}"] = group
    return subs


def _grouped(entries: list[tuple[str, str]]) -> list[dict[str, str]]:
    """``(grade_id, code)`` answers in as few submissions as can hold them, each submission
    answering an exercise at most once (every exercise is scored on its own, so one submission
    checks one answer per exercise; the others keep the solution's answer)."""
    groups: list[dict[str, str]] = []
    for gid, code in entries:
        group = next((g for g in groups if gid not in g), None)
        if group is None:
            group = {}
            groups.append(group)
        group[gid] = code
    return groups


def grade_lessons(lessons: list[str], root: Path) -> dict:
    """Every submission of ``lessons`` (untouched, solution, the fixtures' answers) graded in
    one batch (test mode, two workers): (student, lesson) -> result row."""
    subs, gen = root / "submissions", root / "generated"
    for lesson in lessons:
        released = nbg.generate_assignment(REPO / "solutions", lesson, gen / lesson)
        student = notebooks.load(released / f"{lesson}.ipynb")
        source = notebooks.load(REPO / "solutions" / lesson / f"{lesson}.ipynb")
        answered = {"untouched": student, "solution": solved(source, student)}
        for who, replace in answer_submissions(lesson).items():
            answered[who] = solved(source, student, replace)
        for who, nb in answered.items():
            path = subs / who / lesson / f"{lesson}.ipynb"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(nb), encoding="utf-8")
    result = grade_batch(subs, out=root / "results", fast=True, workers=2, progress=False)
    return {(r.student, r.lesson): r for r in result.rows}


def _test_of(solution_id: str) -> str:
    return f"{solution_id}-tests"


# ---- the checks, parametrised over ``lesson`` by the modules that import them


def test_solution_scores_full_marks(graded, lesson):
    row = graded[("solution", lesson)]
    assert row.status == "graded", row.reason
    assert row.exercises, "a lesson has at least one autograded exercise"
    assert row.scores == row.max_scores, row.messages
    assert row.reason == ""


def test_untouched_release_scores_zero(graded, lesson):
    row = graded[("untouched", lesson)]
    assert row.status == "graded", row.reason
    assert all(score == 0 for score in row.scores.values()), row.scores


def test_plausible_wrong_answers_score_zero(graded, lesson):
    for who, replace in answer_submissions(lesson).items():
        if not who.startswith("wrong"):
            continue
        row = graded[(who, lesson)]
        assert row.status == "graded", (who, row.reason)
        for gid in replace:
            test = _test_of(gid)
            assert row.scores[test] == 0, f"{who}: the wrong answer to {gid} passed {test}"
        others = {g: s for g, s in row.scores.items() if g not in map(_test_of, replace)}
        assert others == {g: row.max_scores[g] for g in others}, (who, row.messages)


def test_answers_that_delegate_to_the_course_package_score_zero(graded, lesson):
    for who, replace in answer_submissions(lesson).items():
        if not who.startswith("delegates"):
            continue
        row = graded[(who, lesson)]
        if row.status == "flagged":
            continue
        assert row.status == "graded", (who, row.reason)
        for gid in replace:
            test = _test_of(gid)
            assert row.scores[test] == 0, f"{who}: delegating {gid} to the course passed {test}"


def test_differently_written_correct_answers_score_full_marks(graded, lesson):
    for who in answer_submissions(lesson):
        if who.startswith("alternative"):
            row = graded[(who, lesson)]
            assert row.status == "graded", (who, row.reason)
            assert row.scores == row.max_scores, (who, row.messages)


GRADE_CHECKS = [
    test_solution_scores_full_marks,
    test_untouched_release_scores_zero,
    test_plausible_wrong_answers_score_zero,
    test_answers_that_delegate_to_the_course_package_score_zero,
    test_differently_written_correct_answers_score_full_marks,
]
