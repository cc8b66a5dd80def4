"""The course package never holds an exercise's answer.

A learner imports ``course`` in every lesson, so anything it exports that an exercise asks for
can be delegated to. Two rules keep grades earned (docs/contributing.md, "Exercises"):

- no exercise's function or class has its name anywhere in the package (module-level
  definitions and aliases, class attributes, re-exports; leading underscores and case aside);
- while a test runs, an answer that calls into the package fails, unless the exercise names the
  helper it may use. The grader enforces that (``autograder/guard_kernel.py``); each lesson's
  answer fixtures try it (``DELEGATES``, graded by ``tests/lessons/test_lesson_grading_*.py``),
  and the fixture lesson below shows it on a fast run.
"""

import ast
import json
from pathlib import Path

import pytest
from helpers import REPO
from helpers.sandbox import require_sandbox

from autograder import guard, notebooks
from autograder.validate import validate

COURSE = REPO / "course"
FIXTURES = REPO / "tests" / "fixtures" / "grading"


def _norm(name: str) -> str:
    return name.strip("_").lower()


def course_names(package: Path = COURSE) -> dict[str, str]:
    """Every name a package defines or binds, normalised -> where."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(package.parent))
        for node in tree.body:
            for name in _bound(node):
                found.setdefault(_norm(name), f"{where}: {name}")
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    for name in _bound(item):
                        found.setdefault(_norm(name), f"{where}: {node.name}.{name}")
    return found


def _bound(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[-1] for a in node.names]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [t.id for t in targets if isinstance(t, ast.Name)]
    return []


def exercise_names() -> dict[str, str]:
    """Every function or class an exercise of a lesson asks for -> its lesson."""
    out = {}
    for path in sorted((REPO / "solutions").glob("[0-9][0-9]-*/*.ipynb")):
        for names in guard.exercise_names(notebooks.load(path)).values():
            out.update({name: path.parent.name for name in names})
    return out


def test_there_are_exercises_to_check():
    assert len(exercise_names()) >= 25


def test_no_exercise_is_named_in_the_course_package():
    defined = course_names()
    twins = {
        f"{name} ({lesson})": defined[_norm(name)]
        for name, lesson in exercise_names().items()
        if _norm(name) in defined
    }
    assert not twins, f"the course package holds what exercises ask for: {twins}"


def test_the_name_check_sees_aliases_and_methods(tmp_path):
    fake = tmp_path / "course"
    fake.mkdir()
    (fake / "helpers.py").write_text(
        "from numpy import mean as pointing_game\n_grad_cam = print\n"
        "class Runner:\n    def focal_loss(self): ...\n    class_weights = None\n"
    )
    names = course_names(fake)
    assert {"pointing_game", "grad_cam", "focal_loss", "class_weights", "runner"} <= set(names)


@pytest.fixture(scope="module")
def delegating_submission(tmp_path_factory):
    """The fixture lesson answered by calling into the course package and by re-binding."""
    require_sandbox()
    lesson = "99-fixture"
    source = notebooks.load(FIXTURES / "solutions" / lesson / f"{lesson}.ipynb")
    released = notebooks.load(FIXTURES / "lessons" / lesson / f"{lesson}.ipynb")
    answers = {
        "ex1-add": "from operator import add\n",
        "ex2-mean": "def mean(values):\n    return sum(values) / len(values)\n",
        "ex3-words": "import course.env\n\n\ndef count_words(text):\n"
        "    course.env.fast_mode()\n    return len(text.split())\n",
    }
    for cell in released["cells"]:
        gid = notebooks.grade_id(cell)
        if gid in answers:
            cell["source"] = answers[gid]
    assert {notebooks.grade_id(c) for c in source["cells"]} >= set(answers)
    path = tmp_path_factory.mktemp("delegating") / f"{lesson}.ipynb"
    path.write_text(json.dumps(released), encoding="utf-8")
    return validate(path, source_dir=FIXTURES / "solutions", progress=lambda text: None)


@pytest.mark.slow
def test_an_answer_that_calls_the_course_package_fails_its_test(delegating_submission):
    ok, report = delegating_submission
    assert not ok
    assert "ex3-words-tests: FAILED" in report
    assert "called the course's course.env.fast_mode" in report


@pytest.mark.slow
def test_an_answer_bound_to_a_function_it_did_not_write_fails(delegating_submission):
    _, report = delegating_submission
    assert "ex1-add-tests: FAILED" in report and "not a function defined in your notebook" in report
    assert "ex2-mean-tests: passed" in report
