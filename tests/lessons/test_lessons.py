"""The lessons: the skeleton every notebook follows, clean storage, and headless runs.

The runs go through the real `course run` command, in test mode, once per module.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

SOLUTIONS = sorted(p for p in (REPO / "solutions").glob("[0-9][0-9]-*/*.ipynb"))
RELEASED = sorted(p for p in (REPO / "lessons").glob("[0-9][0-9]-*/*.ipynb"))
COURSE = str(Path(sys.executable).parent / "course")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_lessons_and_each_has_one_source_and_one_release():
    assert len(SOLUTIONS) >= 2
    assert [p.relative_to(REPO / "solutions") for p in SOLUTIONS] == [
        p.relative_to(REPO / "lessons") for p in RELEASED
    ]
    for path in SOLUTIONS:
        assert path.stem == path.parent.name, f"{path}: name the notebook after its folder"


@pytest.mark.parametrize("path", SOLUTIONS + RELEASED, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_in_git_carry_no_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_lesson_follows_the_course_skeleton(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert _source(cells[0]).startswith("# ") and "You will learn" in _source(cells[0])
    headings = [_source(c) for c in cells if c["cell_type"] == "markdown"]
    assert sum(h.startswith("# ") for h in headings) == 1, "exactly one H1 title"
    setup = next(i for i, c in enumerate(cells) if _source(c).startswith("## Setup"))
    assert "course.setup(seed=" in _source(cells[setup + 1])
    params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and "dataset =" in _source(params[0])

    exercises = [h for h in headings if h.lstrip("-\n ").startswith("## Exercise")]
    assert 2 <= len(exercises) <= 4
    tests = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    solutions = [c for c in cells if c["metadata"].get("nbgrader", {}).get("solution")]
    assert len(tests) == len(solutions) == len(exercises)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in tests + solutions]
    assert len(set(ids)) == len(ids), "grade ids must be unique"
    for heading, test, solution in zip(exercises, tests, solutions, strict=True):
        points = float(re.search(r"\((\d+) points?\)", heading).group(1))
        assert test["metadata"]["nbgrader"]["points"] == points, heading
        assert test["metadata"]["nbgrader"]["locked"] is True
        body = _source(test)
        assert body.startswith('"""'), f"{test['id']}: open with a docstring saying what it checks"
        assert "### BEGIN HIDDEN TESTS" in body and "### END HIDDEN TESTS" in body
        assert "### BEGIN SOLUTION" in _source(solution) and "### END SOLUTION" in _source(solution)


# Executing every lesson takes minutes: these tests are outside the fast tier.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    done = subprocess.run(
        [COURSE, "run", "--fast", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, out


def _outputs(notebook: Path):
    for cell in _cells(notebook):
        for output in cell.get("outputs", []):
            yield cell["id"], output


@slow
def test_every_solution_runs_headless_in_test_mode(fast_run):
    done, out = fast_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{len(SOLUTIONS)} passed, 0 failed" in done.stdout
    for path in SOLUTIONS:
        assert (out / f"{path.stem}.ipynb").exists() and (out / f"{path.stem}.html").exists()


@slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_executed_lessons_have_no_errors_and_nothing_on_stderr(fast_run, path):
    _, out = fast_run
    for cell_id, output in _outputs(out / f"{path.stem}.ipynb"):
        assert output["output_type"] != "error", f"{cell_id}: {output.get('evalue')}"
        assert output.get("name") != "stderr", f"{cell_id} wrote to stderr: {output['text'][:500]}"


@slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_executed_lessons_show_plots(fast_run, path):
    _, out = fast_run
    images = [
        o for _, o in _outputs(out / f"{path.stem}.ipynb") if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 2
    assert "data:image/png;base64" in (out / f"{path.stem}.html").read_text(encoding="utf-8")
