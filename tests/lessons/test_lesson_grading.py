"""The real lessons: released in sync, solutions score full marks, stubs score zero, and the
hidden tests tell a plausible wrong answer from a differently written correct one.

Parametrised over every ``solutions/NN-*/`` folder, so a new lesson is covered automatically.
A lesson's answers live in ``tests/fixtures/answers/lesson_NN.py``: ``WRONG`` and
``ALTERNATIVE`` map solution cells to code a student might write (all in one submission), and
``MORE_WRONG`` / ``MORE_ALTERNATIVE`` list further ``(grade_id, code)`` pairs, grouped into as
few submissions as hold them (one answer per exercise each). ``DELEGATES`` lists answers that
hand the work to the ``course`` package: each must score 0 on its exercise (the exercise rule
the grader enforces), or be flagged. All submissions of all lessons are graded in one batch
(test mode, two workers).
"""

from __future__ import annotations

import copy
import importlib
import json
from types import ModuleType

import pytest
from helpers import REPO
from helpers.sandbox import require_sandbox

from autograder import nbg, notebooks
from autograder.batch import grade_batch
from autograder.cli import main

require_sandbox()

LESSONS = sorted(
    p.name for p in (REPO / "solutions").glob("[0-9][0-9]-*/") if (p / f"{p.name}.ipynb").is_file()
)

# the first test grades every lesson's submissions (and makes the answer keys): half an hour
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_release_check_passes_for_the_repository(capsys):
    code = main(["release", "--check"])
    assert code == 0, capsys.readouterr().err


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


def test_every_exercise_has_a_wrong_and_an_alternative_answer():
    """Every lesson has answer fixtures, and they cover every exercise both ways."""
    for lesson in LESSONS:
        module = answer_fixture(lesson)
        assert module is not None, f"add tests/fixtures/answers/lesson_{lesson[:2]}.py"
        source = notebooks.load(REPO / "solutions" / lesson / f"{lesson}.ipynb")
        cells = {
            notebooks.grade_id(c)
            for c in source["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution")
        }
        assert set(module.WRONG) == cells and set(module.ALTERNATIVE) == cells, lesson


def test_every_lesson_has_an_answer_that_delegates_to_the_course_package():
    """Each lesson's fixtures try the course package at least once, and each such answer
    really calls it (imports or names a course module)."""
    for lesson in LESSONS:
        module = answer_fixture(lesson)
        delegates = getattr(module, "DELEGATES", [])
        assert delegates, f"add DELEGATES to tests/fixtures/answers/lesson_{lesson[:2]}.py"
        course_names = ("course", "data.", "models.", "plots.", "metrics.", "imbalance.",
                        "explain.", "mobile.", "serving.")  # fmt: skip
        for gid, code in delegates:
            assert any(name in code for name in course_names), (lesson, gid)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not LESSONS:
        pytest.skip("no lessons in solutions/ yet")
    subs = tmp_path_factory.mktemp("submissions")
    gen = tmp_path_factory.mktemp("generated")
    for lesson in LESSONS:
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
    out = tmp_path_factory.mktemp("results")
    result = grade_batch(subs, out=out, fast=True, workers=2, progress=False)
    return {(r.student, r.lesson): r for r in result.rows}


@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_scores_full_marks(graded, lesson):
    row = graded[("solution", lesson)]
    assert row.status == "graded", row.reason
    assert row.exercises, "a lesson has at least one autograded exercise"
    assert row.scores == row.max_scores, row.messages
    assert row.reason == ""


@pytest.mark.parametrize("lesson", LESSONS)
def test_untouched_release_scores_zero(graded, lesson):
    row = graded[("untouched", lesson)]
    assert row.status == "graded", row.reason
    assert all(score == 0 for score in row.scores.values()), row.scores


def _test_of(solution_id: str) -> str:
    return f"{solution_id}-tests"


@pytest.mark.parametrize("lesson", LESSONS)
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


@pytest.mark.parametrize("lesson", LESSONS)
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


@pytest.mark.parametrize("lesson", LESSONS)
def test_differently_written_correct_answers_score_full_marks(graded, lesson):
    for who in answer_submissions(lesson):
        if who.startswith("alternative"):
            row = graded[(who, lesson)]
            assert row.status == "graded", (who, row.reason)
            assert row.scores == row.max_scores, (who, row.messages)
