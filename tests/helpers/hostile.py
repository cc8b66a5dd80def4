"""Lesson 00 submissions as a student hands them in, changed by a hostile case.

``tests/autograder/test_hostile.py`` grades dozens of such cases; ``test_sandbox.py`` reuses
one without the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder import notebooks
from helpers import REPO

SOURCE = REPO / "solutions"
LESSON = "00-getting-started"
SOLUTION = SOURCE / LESSON / f"{LESSON}.ipynb"
RELEASED = REPO / "lessons" / LESSON / f"{LESSON}.ipynb"
SETUP = 1  # the index of lesson 00's setup cell among its code cells


@dataclass
class Case:
    """A submission and what grading it must give."""

    status: str  # graded, flagged or error
    total: str = ""  # for graded rows: the expected total
    reason: str = ""  # a part of the row's reason
    answers: dict | None = None  # solution cells replaced (default: the lesson's solution)
    start: str = ""  # a cell inserted right after the setup cell
    end: str = ""  # a cell appended at the end
    edit: object = None  # a function that changes the notebook (a dict) in place
    raw: bytes | None = None  # the file's bytes, instead of a notebook
    files: dict | None = None  # other files beside the notebook in the submission folder


PATCH_ASSERTS = """
import math, numpy as np, numpy.testing
math.isclose = lambda *a, **k: True
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
"""


def notebook(case: Case | None, answers: dict | None = None) -> dict:
    """Lesson 00 as a student hands it in: released, answered, then changed by ``case``."""
    solution = {notebooks.grade_id(c): c for c in notebooks.load(SOLUTION)["cells"]}
    nb = notebooks.load(RELEASED)
    replace = dict(answers if answers is not None else (case.answers or {}) if case else {})
    for cell in nb["cells"]:
        gid = notebooks.grade_id(cell)
        if gid and cell["metadata"]["nbgrader"].get("solution"):
            src = replace.get(gid, notebooks.source_text(solution[gid]))
            cell["source"] = src or "# (left empty)"
    if case is not None:
        code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
        if case.start:
            nb["cells"].insert(code[SETUP] + 1, _code(case.start))
        if case.end:
            nb["cells"].append(_code(case.end))
        if case.edit is not None:
            case.edit(nb)
    return nb


def _code(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}  # fmt: skip
