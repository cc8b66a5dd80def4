"""The ``autograder`` command: validate, grade a zip, doctor."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import pytest
from helpers import FIXTURES
from helpers.sandbox import require_sandbox

from autograder import notebooks
from autograder.cli import main

require_sandbox()

FIXTURE = FIXTURES / "grading"
SOURCE = FIXTURE / "solutions"
LESSON = "99-fixture"
RELEASED = FIXTURE / "lessons" / LESSON / f"{LESSON}.ipynb"


def solved_text() -> str:
    source = notebooks.load(SOURCE / LESSON / f"{LESSON}.ipynb")
    nb = notebooks.load(RELEASED)
    answers = {notebooks.grade_id(c): c["source"] for c in source["cells"]}
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return json.dumps(nb)


@pytest.mark.slow
def test_validate_passes_for_a_solved_notebook(tmp_path, capsys):
    path = tmp_path / f"{LESSON}.ipynb"
    path.write_text(solved_text())
    assert main(["validate", str(path), "--source", str(SOURCE), "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert "ex1-add-tests: passed (1/1 points)" in out and "total: 6/6 points" in out


@pytest.mark.slow
def test_validate_fails_for_the_untouched_release_with_one_line_per_exercise(tmp_path, capsys):
    nb = notebooks.load(RELEASED)
    nb["cells"] = [
        c for c in nb["cells"] if notebooks.grade_id(c) != "ex2-mean-tests"
    ]  # a deleted test cell
    path = tmp_path / "lessons" / LESSON / f"{LESSON}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))
    assert main(["validate", str(path), "--source", str(SOURCE), "--timeout", "20"]) == 1
    out = capsys.readouterr().out
    assert "warning: test cell ex2-mean-tests was missing and was restored" in out
    for gid, points in (("ex1-add-tests", 1), ("ex2-mean-tests", 2), ("ex3-words-tests", 3)):
        assert f"{gid}: FAILED (0/{points} points): NotImplementedError" in out
    assert "total: 0/6 points" in out


@pytest.mark.slow
def test_grade_a_zip_of_flat_files(tmp_path, capsys):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/alice_99.ipynb", solved_text())
        zf.writestr("class/zed_42.ipynb", "{}")
    out = tmp_path / "results"
    assert (
        main(["grade", str(archive), "--out", str(out), "--source", str(SOURCE), "--timeout", "20"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "1 graded, 1 error, 2 in all" in printed and "99-fixture: mean 6.00 / 6" in printed
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [(r["student"], r["lesson"], r["total"], r["status"]) for r in rows] == [
        ("alice", LESSON, "6", "graded"),
        ("zed", "", "0", "error"),
    ]
    assert (out / "feedback" / "alice" / f"{LESSON}.html").is_file()
    assert (out / "grades.html").is_file()


def test_grade_an_empty_folder_says_what_is_expected(tmp_path, capsys):
    assert (
        main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--source", str(SOURCE)]) == 2
    )
    err = capsys.readouterr().err
    assert f"no notebooks found in {tmp_path}: expected <student>/<lesson>/<notebook>.ipynb" in err


def test_grade_an_unknown_lesson_filter(tmp_path, capsys):
    shutil.copy(RELEASED, tmp_path / "a_99.ipynb")
    assert (
        main(
            [
                "grade",
                str(tmp_path),
                "--lesson",
                "42",
                "--source",
                str(SOURCE),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "unknown lesson '42'" in capsys.readouterr().err


def test_doctor_names_the_kernel_of_this_environment(capsys):
    import sys

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"kernel python3: {sys.executable}" in out or "kernel python3: python" in out
    assert "nbgrader: 0.9.6" in out and "device: " in out
