"""The real lessons with odd numbers, graded: solutions score full marks, stubs score zero,
and the hidden tests tell a plausible wrong answer from a differently written correct one.

The submissions and the checks are in ``helpers.lesson_grading``; the lessons are split by
number so that the two test workers share the grading (``..._even.py`` and ``..._odd.py``).
A new lesson is covered automatically.
"""

from __future__ import annotations

import pytest
from helpers.lesson_grading import (  # noqa: F401  (the checks are collected here)
    grade_lessons,
    lessons_numbered,
    test_answers_that_delegate_to_the_course_package_score_zero,
    test_differently_written_correct_answers_score_full_marks,
    test_plausible_wrong_answers_score_zero,
    test_solution_scores_full_marks,
    test_untouched_release_scores_zero,
)
from helpers.sandbox import require_sandbox

require_sandbox()

LESSONS = lessons_numbered(1)

# the first test grades these lessons' submissions (and makes their answer keys): minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def pytest_generate_tests(metafunc):
    if "lesson" in metafunc.fixturenames:
        metafunc.parametrize("lesson", LESSONS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not LESSONS:
        pytest.skip("no lessons with odd numbers in solutions/ yet")
    return grade_lessons(LESSONS, tmp_path_factory.mktemp("grading"))
