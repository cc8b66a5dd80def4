"""Canonical notebook JSON: what `solutions/` and `lessons/` hold in git.

Canonical form: nbformat 4.5, no outputs, ``execution_count`` null, keys sorted, ``indent=1``,
a trailing newline, UTF-8 text (``ensure_ascii=False``), and only allowlisted metadata
(notebook: ``kernelspec`` and ``language_info.name``; cells: ``nbgrader``, ``autograder`` (the
course's own test settings, see :func:`autograder.guard.exercise_helpers`), ``tags``,
``editable``, ``deletable``). Cell ids are kept as they are.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CELL_METADATA_KEYS = ("nbgrader", "autograder", "tags", "editable", "deletable")


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a notebook file as plain JSON (a dict), without validating or upgrading it."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _source_text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def canonicalize(nb: dict[str, Any]) -> dict[str, Any]:
    """Return a canonical copy of ``nb`` (a v4 notebook as a dict)."""
    meta = nb.get("metadata", {}) or {}
    out_meta: dict[str, Any] = {}
    if "kernelspec" in meta:
        out_meta["kernelspec"] = meta["kernelspec"]
    lang = (meta.get("language_info") or {}).get("name")
    if lang:
        out_meta["language_info"] = {"name": lang}
    cells = []
    for cell in nb.get("cells", []):
        cell_meta = cell.get("metadata", {}) or {}
        new: dict[str, Any] = {
            "cell_type": cell["cell_type"],
            "metadata": {k: cell_meta[k] for k in CELL_METADATA_KEYS if k in cell_meta},
            "source": _split_lines(_source_text(cell.get("source", ""))),
        }
        if "id" in cell:
            new["id"] = cell["id"]
        if cell["cell_type"] == "code":
            new["execution_count"] = None
            new["outputs"] = []
        elif cell["cell_type"] in ("markdown", "raw") and cell.get("attachments"):
            new["attachments"] = cell["attachments"]
        cells.append(new)
    return {"cells": cells, "metadata": out_meta, "nbformat": 4, "nbformat_minor": 5}


def canonical_json(nb: dict[str, Any]) -> str:
    """The canonical text of ``nb``: sorted keys, ``indent=1``, UTF-8, trailing newline."""
    return json.dumps(canonicalize(nb), sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_canonical(path: str | os.PathLike, nb: dict[str, Any]) -> bool:
    """Write ``nb`` to ``path`` in canonical form; return True when the file changed."""
    path = Path(path)
    text = canonical_json(nb)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def is_canonical(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` is a notebook already in canonical form."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        return text == canonical_json(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def grade_id(cell: dict[str, Any]) -> str | None:
    """The nbgrader ``grade_id`` of a cell, or None."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def is_test_cell(cell: dict[str, Any]) -> bool:
    """An autograded test cell: a graded code cell that is not a solution cell."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return bool(meta.get("grade")) and not meta.get("solution") and cell["cell_type"] == "code"


def source_text(cell: dict[str, Any]) -> str:
    """A cell's source as one string."""
    return _source_text(cell.get("source", ""))
