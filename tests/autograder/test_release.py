"""``autograder release``: canonical notebooks, idempotent, ``--check`` finds staleness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import FIXTURES

from autograder import notebooks
from autograder.cli import main
from autograder.release import release

FIXTURE = FIXTURES / "grading"
LESSON = "99-fixture"


def check(course: Path) -> int:
    """``autograder release --check`` on a course folder; its exit code."""
    return main(
        ["release", "--check", "--source", str(course / "solutions"),
         "--release", str(course / "lessons")]
    )  # fmt: skip


@pytest.fixture
def course(tmp_path):
    """A temporary copy of the fixture's solutions/ and lessons/."""
    shutil.copytree(FIXTURE / "solutions", tmp_path / "solutions")
    shutil.copytree(FIXTURE / "lessons", tmp_path / "lessons")
    return tmp_path


def test_canonical_json_form():
    nb = {
        "nbformat": 4,
        "nbformat_minor": 2,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "P", "language": "python"},
            "language_info": {"name": "python", "version": "3.11.7"},
            "widgets": {"x": 1},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "a1",
                "execution_count": 7,
                "metadata": {"collapsed": True, "tags": ["t"], "nbgrader": {"grade": False}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}],
                "source": "x = 'é'\nprint(x)",
            }
        ],
    }
    text = notebooks.canonical_json(nb)
    data = json.loads(text)
    assert text.endswith("}\n") and text.startswith('{\n "cells": [\n  {\n')
    assert "é" in text  # not escaped
    assert data["nbformat_minor"] == 5
    assert data["metadata"] == {
        "kernelspec": nb["metadata"]["kernelspec"],
        "language_info": {"name": "python"},
    }
    cell = data["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None and cell["id"] == "a1"
    assert cell["metadata"] == {"nbgrader": {"grade": False}, "tags": ["t"]}
    assert cell["source"] == ["x = 'é'\n", "print(x)"]
    assert text == json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


@pytest.mark.slow
def test_release_is_idempotent_and_canonical(course):
    release(course / "solutions", course / "lessons")
    first = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    shutil.rmtree(course / "lessons")
    again = release(course / "solutions", course / "lessons")
    assert again.written == [f"lessons/{LESSON}/{LESSON}.ipynb"]
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == first
    assert release(course / "solutions", course / "lessons").written == []
    student = notebooks.load(course / "lessons" / LESSON / f"{LESSON}.ipynb")
    source = notebooks.load(course / "solutions" / LESSON / f"{LESSON}.ipynb")
    assert [c["id"] for c in student["cells"]] == [c["id"] for c in source["cells"]]
    text = json.dumps(student)
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    assert "raise NotImplementedError()" in text
    for path in first:
        assert notebooks.is_canonical(path), path


@pytest.mark.slow
def test_check_passes_when_in_sync(course, capsys):
    assert check(course) == 0
    assert "in sync" in capsys.readouterr().out


@pytest.mark.slow
def test_check_finds_a_stale_lesson_and_changes_nothing(course, capsys):
    src = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = notebooks.load(src)
    nb["cells"][0]["source"] = ["# A new title\n"]
    notebooks.write_canonical(src, nb)
    (course / "lessons" / "98-orphan").mkdir()
    (course / "lessons" / "98-orphan" / "98-orphan.ipynb").write_text("{}")
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    assert check(course) == 1
    err = capsys.readouterr().err
    assert f"lessons/{LESSON}/{LESSON}.ipynb: stale" in err
    assert "lessons/98-orphan: lesson has no source" in err
    assert {p: p.read_bytes() for p in course.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_release_strips_outputs_from_the_source_and_keeps_its_ids(course):
    src = course / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = notebooks.load(src)
    ids = [c["id"] for c in nb["cells"]]
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["left over\n"]}]
    code["execution_count"] = 3
    src.write_text(json.dumps(nb, indent=2))
    result = release(course / "solutions", course / "lessons", check=True)
    assert f"solutions/{LESSON}/{LESSON}.ipynb: not in canonical form" in result.problems
    release(course / "solutions", course / "lessons")
    after = notebooks.load(src)
    assert notebooks.is_canonical(src) and [c["id"] for c in after["cells"]] == ids
    assert all(c.get("outputs", []) == [] for c in after["cells"])
