"""The real lessons with even numbers, graded: solutions score full marks, stubs score zero,
and the hidden tests tell a plausible wrong answer from a differently written correct one.

The submissions and the checks are in ``helpers.lesson_grading``; the lessons are split by
number so that the two test workers share the grading (``..._even.py`` and ``..._odd.py``).
A new lesson is covered automatically.
"""

from __future__ import annotations

import pytest
from helpers import REPO
from helpers.lesson_grading import LESSONS as ALL_LESSONS
from helpers.lesson_grading import (  # noqa: F401  (the checks are collected here)
    answer_fixture,
    grade_lessons,
    lessons_numbered,
    test_answers_that_delegate_to_the_course_package_score_zero,
    test_differently_written_correct_answers_score_full_marks,
    test_plausible_wrong_answers_score_zero,
    test_solution_scores_full_marks,
    test_untouched_release_scores_zero,
)
from helpers.sandbox import require_sandbox

from autograder import notebooks

require_sandbox()

LESSONS = lessons_numbered(0)

# the first test grades these lessons' submissions (and makes their answer keys): minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def pytest_generate_tests(metafunc):
    if "lesson" in metafunc.fixturenames:
        metafunc.parametrize("lesson", LESSONS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not LESSONS:
        pytest.skip("no lessons with even numbers in solutions/ yet")
    return grade_lessons(LESSONS, tmp_path_factory.mktemp("grading"))


# ---- what covers every lesson (cheap; here once)


def test_release_check_passes_for_the_repository(capsys):
    from autograder.cli import main

    code = main(["release", "--check"])
    assert code == 0, capsys.readouterr().err


def test_every_exercise_has_a_wrong_and_an_alternative_answer():
    """Every lesson has answer fixtures, and they cover every exercise both ways."""
    for lesson in ALL_LESSONS:
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
    for lesson in ALL_LESSONS:
        module = answer_fixture(lesson)
        delegates = getattr(module, "DELEGATES", [])
        assert delegates, f"add DELEGATES to tests/fixtures/answers/lesson_{lesson[:2]}.py"
        course_names = ("course", "data.", "models.", "plots.", "metrics.", "imbalance.",
                        "explain.", "mobile.", "serving.")  # fmt: skip
        for gid, code in delegates:
            assert any(name in code for name in course_names), (lesson, gid)
