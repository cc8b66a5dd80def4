"""Grading a batch of fixture submissions, good and broken, in one run (module fixture)."""

from __future__ import annotations

import copy
import csv
import json
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES
from helpers.sandbox import require_sandbox

from autograder import notebooks
from autograder.batch import grade_batch

require_sandbox()

FIXTURE = FIXTURES / "grading"
SOURCE = FIXTURE / "solutions"
LESSON = "99-fixture"
EXERCISES = ["ex1-add-tests", "ex2-mean-tests", "ex3-words-tests"]

pytestmark = pytest.mark.slow


def release_nb() -> dict:
    return notebooks.load(FIXTURE / "lessons" / LESSON / f"{LESSON}.ipynb")


def solved(**answers: str) -> dict:
    """The released notebook with every solution filled in; ``answers`` replace some."""
    source = notebooks.load(SOURCE / LESSON / f"{LESSON}.ipynb")
    nb = release_nb()
    by_id = {notebooks.grade_id(c): c for c in source["cells"] if notebooks.grade_id(c)}
    for cell in nb["cells"]:
        gid = notebooks.grade_id(cell)
        if gid and cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = answers.get(gid.replace("-", "_"), by_id[gid]["source"])
    return nb


def cell_of(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if notebooks.grade_id(c) == gid)


WRONG_WORDS = "def count_words(text):\n    return 0"


def make_batch(root: Path) -> None:
    def put(student: str, nb: dict | str) -> None:
        path = root / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")

    put("full", solved())
    put("partial", solved(ex3_words=WRONG_WORDS))
    put("untouched", release_nb())
    put("badjson", '{"cells": [')
    future = solved()
    future["nbformat"] = 5
    put("nbformat5", future)
    dup = solved()
    i = dup["cells"].index(cell_of(dup, "ex2-mean-tests"))
    twin = copy.deepcopy(dup["cells"][i])
    twin["id"] = "twin"
    dup["cells"].insert(i + 1, twin)
    put("duplicated", dup)
    schema = solved()
    cell_of(schema, "ex1-add")["metadata"]["nbgrader"]["schema_version"] = 4
    put("schema4", schema)
    deleted = solved()
    deleted["cells"].remove(cell_of(deleted, "ex3-words-tests"))
    put("deleted", deleted)
    edited = solved(ex3_words=WRONG_WORDS)
    cell_of(edited, "ex3-words-tests")["source"] = "assert True"
    put("edited", edited)
    tampered = solved()
    cell_of(tampered, "ex1-add-tests")["metadata"]["nbgrader"]["points"] = 100
    tampered["metadata"]["kernelspec"] = {"name": "evil", "display_name": "x", "language": "x"}
    put("tampered", tampered)
    put("loop", solved(ex2_mean="while True:\n    pass"))
    put("dies", solved(ex2_mean="import os\nos._exit(1)"))
    stderr = solved(
        ex1_add="import sys\nprint('kernel python:', sys.executable)\n\ndef add(a, b):\n"
        "    sys.stderr.write('computing a sum\\n')\n    return a + b"
    )
    (root / f"stderr_{LESSON[:2]}.ipynb").write_text(json.dumps(stderr), encoding="utf-8")
    (root / "carol_42.ipynb").write_text(json.dumps(solved()), encoding="utf-8")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("submissions")
    make_batch(root)
    out = tmp_path_factory.mktemp("results")
    result = grade_batch(root, out=out, timeout=5, source_dir=SOURCE, workers=2, progress=False)
    with open(result.csv, newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    return result, rows


def scores(row: dict) -> list[float]:
    return [float(row[g]) for g in EXERCISES]


def test_every_submission_gets_one_row(batch):
    result, rows = batch
    assert sorted(rows) == sorted(
        [
            "full",
            "partial",
            "untouched",
            "badjson",
            "nbformat5",
            "duplicated",
            "schema4",
            "deleted",
            "edited",
            "tampered",
            "loop",
            "dies",
            "stderr",
            "carol",
        ]
    )


def test_csv_columns(batch):
    result, _ = batch
    header = result.csv.read_text().splitlines()[0].split(",")
    assert header == [
        "student",
        "lesson",
        *EXERCISES,
        "total",
        "max_score",
        "status",
        "reason",
        "device",
    ]


def test_full_solution_scores_full_marks(batch):
    row = batch[1]["full"]
    assert scores(row) == [1, 2, 3] and row["total"] == "6" and row["max_score"] == "6"
    assert row["status"] == "graded" and row["reason"] == "" and row["device"] == "CPU"


def test_partly_correct_scores_its_correct_exercises(batch):
    row = batch[1]["partial"]
    assert scores(row) == [1, 2, 0] and row["total"] == "3" and row["status"] == "graded"


def test_untouched_release_scores_zero(batch):
    row = batch[1]["untouched"]
    assert scores(row) == [0, 0, 0] and row["status"] == "graded"


def test_invalid_json_is_an_error_row(batch):
    row = batch[1]["badjson"]
    assert row["status"] == "error" and row["total"] == "0"
    assert row["reason"].startswith("not a valid notebook:")
    assert scores(row) == [0, 0, 0]


def test_unknown_nbformat_version_is_an_error_row(batch):
    row = batch[1]["nbformat5"]
    assert row["status"] == "error" and "unknown nbformat version 5" in row["reason"]


def test_duplicated_grade_cell_is_removed_and_graded(batch):
    row = batch[1]["duplicated"]
    assert row["status"] == "graded" and scores(row) == [1, 2, 3]
    assert "duplicated grade cell ex2-mean-tests removed" in row["reason"]


def test_schema_version_4_is_reset_and_graded(batch):
    row = batch[1]["schema4"]
    assert row["status"] == "graded" and scores(row) == [1, 2, 3]
    assert "schema_version 4 of cell ex1-add reset to 3" in row["reason"]


def test_deleted_test_cell_is_restored_and_run(batch):
    row = batch[1]["deleted"]
    assert row["status"] == "graded" and scores(row) == [1, 2, 3]
    assert "test cell ex3-words-tests was missing and was restored" in row["reason"]


def test_edited_test_cell_is_graded_against_the_real_test(batch):
    row = batch[1]["edited"]
    assert scores(row) == [1, 2, 0]
    assert "test cell ex3-words-tests was edited" in row["reason"]


def test_changed_points_and_kernelspec_are_restored(batch):
    row = batch[1]["tampered"]
    assert scores(row) == [1, 2, 3] and row["max_score"] == "6"
    assert "points of ex1-add-tests changed from 1 to 100 and were restored" in row["reason"]
    assert "kernelspec changed to 'evil'" in row["reason"]


def test_infinite_loop_times_out_and_later_cells_still_run(batch):
    row = batch[1]["loop"]
    assert row["status"] == "graded" and scores(row) == [1, 0, 3]
    assert "ex2-mean ran longer than 5 s and was interrupted" in row["reason"]


def test_dead_kernel_keeps_the_points_of_the_tests_before_it(batch):
    """ex2's answer kills the kernel: ex1 ran before and counts; ex2 and ex3 get 0."""
    row = batch[1]["dies"]
    assert row["status"] == "graded" and scores(row) == [1, 0, 0] and row["total"] == "1"
    assert "the kernel died in cell" in row["reason"] and "ex2-mean" in row["reason"]
    assert "the cells after it did not run" in row["reason"]


def test_stderr_output_does_not_cost_marks(batch):
    result, rows = batch
    row = rows["stderr"]
    assert row["lesson"] == LESSON and scores(row) == [1, 2, 3] and row["status"] == "graded"
    feedback = (result.out / "feedback" / "stderr" / f"{LESSON}.html").read_text()
    assert "[stderr] computing a sum" in feedback


def test_kernels_run_the_python_of_the_grader(batch):
    result, _ = batch
    feedback = (result.out / "feedback" / "stderr" / f"{LESSON}.html").read_text()
    assert f"kernel python: {sys.executable}" in feedback


def test_unknown_lesson_is_an_error_row(batch):
    row = batch[1]["carol"]
    assert row["status"] == "error" and row["lesson"] == ""
    assert "unknown lesson '42'" in row["reason"]


def test_feedback_for_every_graded_submission(batch):
    result, rows = batch
    for student, row in rows.items():
        page = result.out / "feedback" / student / f"{LESSON}.html"
        assert page.is_file() == (row["status"] == "graded"), student


def test_feedback_never_shows_hidden_tests(batch):
    result, _ = batch
    for page in (result.out / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "HIDDEN TESTS" not in text and "add(-1, 1)" not in text, page
        assert "an empty text has no words" not in text or "AssertionError" in text, page


def test_rows_sorted_by_student(batch):
    result, _ = batch
    students = [r["student"] for r in csv.DictReader(result.csv.open())]
    assert students == sorted(students)
