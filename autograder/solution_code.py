"""A lesson's solution functions, loaded from its source notebook for tests and benchmarks.

The ``course`` package never holds what an exercise asks for (a learner could call it), so the
one implementation of, say, lesson 06's ``focal_loss`` is the solution cell in
``solutions/06-imbalanced-data/``. Tests of that code and benchmarks that need it load it from
there: :func:`load` runs the lesson's imports and top-level function definitions (those
that need the lesson's data to be defined are left out), then its
solution cells, in a fresh namespace, and returns that namespace. Nothing else of the lesson
runs (no data is loaded, no model trained).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from autograder import notebooks
from autograder.paths import source_notebook


def _tree(source: str) -> ast.Module | None:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def load(lesson: str, source_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The namespace of ``lesson``'s imports, helper definitions and solution cells.

    Example::

        focal_loss = solution_code.load("06-imbalanced-data")["focal_loss"]
    """
    path = Path(source_notebook(lesson, source_dir))
    if not path.is_file():
        raise FileNotFoundError(f"no source notebook for lesson {lesson!r} at {path}")
    nb = notebooks.load(path)
    lesson_parts: list[ast.stmt] = []
    solutions: list[ast.Module] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        tree = _tree(notebooks.source_text(cell))
        if tree is None:
            continue
        if meta.get("solution"):
            solutions.append(tree)
        elif not meta.get("grade"):
            kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
            lesson_parts += [node for node in tree.body if isinstance(node, kinds)]
    namespace: dict[str, Any] = {"__name__": f"solutions_{lesson[:2]}"}
    for node in lesson_parts:
        try:
            exec(compile(ast.Module([node], []), f"{path} (lesson)", "exec"), namespace)  # noqa: S102
        except NameError:
            pass  # a helper decorated with the lesson's own state (a tf.function signature)
    for tree in solutions:
        exec(compile(tree, f"{path} (solutions)", "exec"), namespace)  # noqa: S102
    return namespace
