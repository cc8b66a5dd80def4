"""The *prepare* step: a lesson made ready to grade submissions against.

:func:`prepare_lesson` builds a lesson's template course root once per batch: its source (the
solutions and hidden tests), its student release and a gradebook that knows its grade cells,
all from nbgrader's ``generate_assignment``. Every job copies the source and the gradebook
from it. The lesson's answer key is the other half of preparing (:mod:`autograder.answer_key`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from autograder import nbg, notebooks


def prepare_lesson(lesson: str, source_dir: str | os.PathLike, root: str | os.PathLike) -> Path:
    """A course root for ``lesson`` after ``generate_assignment``: source, release, gradebook."""
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
        staged = Path(tmp)
        shutil.copytree(
            Path(source_dir) / lesson,
            staged / lesson,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        nbpath = staged / lesson / f"{lesson}.ipynb"
        notebooks.write_canonical(nbpath, notebooks.load(nbpath))
        nbg.generate_assignment(staged, lesson, root)
    return root


def lesson_exercises(template: Path, lesson: str) -> tuple[list[str], dict[str, float]]:
    """The autograded test cells (grade_ids, in order) of a lesson and their points."""
    nb = notebooks.load(template / "source" / lesson / f"{lesson}.ipynb")
    ids, points = [], {}
    for cell in nb["cells"]:
        if notebooks.is_test_cell(cell):
            gid = notebooks.grade_id(cell)
            ids.append(gid)
            points[gid] = float(cell["metadata"]["nbgrader"].get("points", 0))
    return ids, points
