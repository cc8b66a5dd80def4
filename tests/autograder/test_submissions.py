"""Finding submissions in folders and zips, and repairing them before grading (fast)."""

from __future__ import annotations

import copy
import json
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import FIXTURES

from autograder import notebooks
from autograder.repair import repair
from autograder.submissions import SubmissionError, discover, parse_flat_name, safe_extract

FIXTURE = FIXTURES / "grading"
LESSON = "99-fixture"
KNOWN = ["00-getting-started", "01-data-preprocessing", "01-data", LESSON]


def source_nb() -> dict:
    return notebooks.load(FIXTURE / "solutions" / LESSON / f"{LESSON}.ipynb")


def release_nb() -> dict:
    return notebooks.load(FIXTURE / "lessons" / LESSON / f"{LESSON}.ipynb")


def touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- names and layouts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, expected",
    [
        ("alice_01-data-preprocessing", ("alice", "01-data-preprocessing")),
        ("alice_01-data", ("alice", "01-data")),
        ("bob_smith_01", ("bob_smith", None)),  # "01" matches two known lessons: ambiguous
        ("alice_00", ("alice", "00-getting-started")),
        ("alice_0", ("alice", "00-getting-started")),
        ("dave_99", ("dave", LESSON)),
        ("carol_42", ("carol", None)),
    ],
)
def test_flat_names(stem, expected):
    student, lesson, _ = parse_flat_name(stem, KNOWN)
    assert (student, lesson) == expected


def test_nested_and_flat_folders_are_discovered(tmp_path):
    touch(tmp_path / "alice" / LESSON / f"{LESSON}.ipynb")
    touch(tmp_path / "alice" / "00-getting-started" / "mine.ipynb")
    touch(tmp_path / "alice" / LESSON / "data.csv", "x")  # extra files are ignored
    touch(tmp_path / "bob_99.ipynb")
    touch(tmp_path / "bob_00-getting-started.ipynb")
    touch(tmp_path / ".ipynb_checkpoints" / "x_99-checkpoint.ipynb")
    subs = discover(tmp_path, KNOWN, tmp_path / "work")
    assert [(s.student, s.lesson, s.error) for s in subs] == [
        ("alice", "00-getting-started", None),
        ("alice", LESSON, None),
        ("bob", "00-getting-started", None),
        ("bob", LESSON, None),
    ]


def test_zip_of_a_wrapped_folder_is_discovered(tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/alice_99.ipynb", "{}")
        zf.writestr(f"class/bob/{LESSON}/{LESSON}.ipynb", "{}")
        zf.writestr("__MACOSX/class/._alice_99.ipynb", "junk")
    subs = discover(archive, KNOWN, tmp_path / "work")
    assert [(s.student, s.lesson) for s in subs] == [("alice", LESSON), ("bob", LESSON)]
    assert all(s.path.is_relative_to(tmp_path / "work") for s in subs)


def test_zip_extraction_refuses_traversal_and_links(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../outside.ipynb", "{}")
        zf.writestr("/abs.ipynb", "{}")
        link = zipfile.ZipInfo("link_99.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok_99.ipynb", "{}")
    dest = safe_extract(archive, tmp_path / "x")
    assert sorted(p.name for p in dest.rglob("*")) == ["ok_99.ipynb"]
    assert not (tmp_path / "outside.ipynb").exists()


def test_zip_size_cap(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a_99.ipynb", "0" * 10_000)
    with pytest.raises(SubmissionError, match="unpacks to"):
        safe_extract(archive, tmp_path / "x", max_bytes=1000)


def test_lesson_filter(tmp_path):
    touch(tmp_path / "alice_99.ipynb")
    touch(tmp_path / "alice_00.ipynb")
    subs = discover(tmp_path, KNOWN, tmp_path / "w", only=LESSON)
    assert [(s.student, s.lesson) for s in subs] == [("alice", LESSON)]


def test_unknown_lessons_and_stray_files_are_error_rows(tmp_path):
    touch(tmp_path / "carol_42.ipynb")
    touch(tmp_path / "dave" / "07-nothing" / "x.ipynb")
    touch(tmp_path / "notes.txt", "hi")
    touch(tmp_path / "noname.ipynb")
    subs = {s.student: s for s in discover(tmp_path, KNOWN, tmp_path / "w")}
    assert "unknown lesson '42'" in subs["carol"].error
    assert "unknown lesson '07-nothing'" in subs["dave"].error
    assert "not a notebook" in subs["notes"].error
    assert "cannot tell the student and the lesson" in subs["noname"].error


def test_empty_folder_has_a_clear_message(tmp_path):
    with pytest.raises(SubmissionError, match="no notebooks found in .*: expected <student>"):
        discover(tmp_path, KNOWN, tmp_path / "w")


def test_missing_path_has_a_clear_message(tmp_path):
    with pytest.raises(SubmissionError, match="no such file or folder"):
        discover(tmp_path / "nope", KNOWN, tmp_path / "w")


def test_two_notebooks_for_one_lesson_keep_the_lesson_named_one(tmp_path):
    touch(tmp_path / "alice" / LESSON / "scratch.ipynb")
    touch(tmp_path / "alice" / LESSON / f"{LESSON}.ipynb")
    (sub,) = discover(tmp_path, KNOWN, tmp_path / "w")
    assert sub.path.name == f"{LESSON}.ipynb" and "ignored scratch.ipynb" in sub.note


# -- integrity --------------------------------------------------------------------------------


def test_clean_release_needs_no_fixes():
    fixed = repair(json.dumps(release_nb()), source_nb(), release_nb())
    assert fixed.error is None and fixed.notes == []
    nbformat.validate(nbformat.from_dict(fixed.nb))


def test_nbformat_3_is_converted():
    v3 = nbformat.convert(nbformat.reads(json.dumps(release_nb()), as_version=4), 3)
    fixed = repair(nbformat.writes(v3, version=3), source_nb(), release_nb())
    assert fixed.error is None
    assert "nbformat 3 notebook converted to nbformat 4" in fixed.notes
    ids = [notebooks.grade_id(c) for c in fixed.nb["cells"] if notebooks.grade_id(c)]
    assert len(ids) == 6


def test_missing_solution_and_test_cells_are_restored_in_place():
    nb = release_nb()
    nb["cells"] = [
        c for c in nb["cells"] if notebooks.grade_id(c) not in ("ex2-mean", "ex2-mean-tests")
    ]
    fixed = repair(json.dumps(nb), source_nb(), release_nb())
    order = [notebooks.grade_id(c) for c in fixed.nb["cells"] if notebooks.grade_id(c)]
    assert order == [
        "ex1-add",
        "ex1-add-tests",
        "ex2-mean",
        "ex2-mean-tests",
        "ex3-words",
        "ex3-words-tests",
    ]
    assert "solution cell ex2-mean was missing and was restored" in fixed.notes
    assert "test cell ex2-mean-tests was missing and was restored" in fixed.notes


def test_restored_test_cells_hold_the_hidden_tests():
    nb = release_nb()
    fixed = repair(json.dumps(nb), source_nb(), release_nb())
    test = next(c for c in fixed.nb["cells"] if notebooks.grade_id(c) == "ex1-add-tests")
    assert "### BEGIN HIDDEN TESTS" in test["source"]


def test_unknown_grade_id_loses_its_metadata():
    nb = release_nb()
    extra = copy.deepcopy(nb["cells"][2])
    extra["id"] = "extra"
    extra["metadata"]["nbgrader"] = {
        "grade": True,
        "grade_id": "mine",
        "points": 5,
        "schema_version": 3,
        "solution": False,
        "locked": True,
    }
    nb["cells"].append(extra)
    fixed = repair(json.dumps(nb), source_nb(), release_nb())
    assert "nbgrader" not in fixed.nb["cells"][-1]["metadata"]
    assert any("unknown grade_id 'mine'" in n for n in fixed.notes)


@pytest.mark.parametrize(
    "text, why",
    [
        ("nope", "not a valid notebook: invalid JSON"),
        ("[1, 2]", "not a valid notebook"),
        ('{"nbformat": 2, "cells": []}', "unknown nbformat version 2"),
        ('{"nbformat": 4, "cells": 3}', "not a valid notebook: no list of cells"),
    ],
)
def test_unusable_files_are_errors(text, why):
    fixed = repair(text, source_nb(), release_nb())
    assert fixed.nb is None and why in fixed.error
