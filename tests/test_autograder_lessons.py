"""The real lessons: released in sync, solutions score full marks, stubs score zero.

Parametrised over every ``solutions/NN-*/`` folder, so a new lesson is covered automatically.
All lessons are graded in one batch (test mode, two workers) by a module fixture.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from autograder import nbg, notebooks
from autograder.cli import main
from autograder.grade import grade_batch

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted(
    p.name for p in (REPO / "solutions").glob("[0-9][0-9]-*/") if (p / f"{p.name}.ipynb").is_file()
)

pytestmark = pytest.mark.slow


def test_release_check_passes_for_the_repository(capsys):
    code = main(["release", "--check"])
    assert code == 0, capsys.readouterr().err


def solved(source: dict, release: dict) -> dict:
    """The student notebook with every solution cell answered as in the source."""
    release = copy.deepcopy(release)
    answers = {notebooks.grade_id(c): c["source"] for c in source["cells"]}
    for cell in release["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return release


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
        for who, nb in (("untouched", student), ("solution", solved(source, student))):
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
