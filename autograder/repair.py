"""The *repair* step: check and repair a submitted notebook against its lesson before nbgrader
sees it.

nbgrader 0.9.6 aborts a whole batch on a duplicated grade cell or a ``schema_version`` it does
not know, silently grades a notebook whose test cells were deleted as if they were never there,
and warns (but still grades) when a test cell was edited. :func:`repair` fixes each of these
in the submission and says what it fixed, so the instructor (``autograder grade``) and the
student (``autograder validate``) both learn about it.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from autograder.notebooks import grade_id, source_text

NBGRADER_SCHEMA = 3


@dataclass
class Repaired:
    """The repaired notebook (None when it cannot be graded), what was fixed, or why not."""

    nb: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def _is_locked_source(cell: dict[str, Any]) -> bool:
    meta = cell["metadata"]["nbgrader"]
    return bool(meta.get("locked")) and not meta.get("solution")


def _load(text: str | bytes) -> Repaired:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Repaired(None, error=f"not a valid notebook: not UTF-8 text ({exc})")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return Repaired(None, error=f"not a valid notebook: invalid JSON ({exc})")
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return Repaired(None, error="not a valid notebook: JSON without an 'nbformat' field")
    major = raw.get("nbformat")
    notes: list[str] = []
    if major == 3:
        import nbformat

        try:
            converted = nbformat.reads(text, as_version=4)
            raw = json.loads(nbformat.writes(converted, version=4))
        except Exception as exc:  # nbformat raises many kinds for a broken v3 file
            return Repaired(
                None,
                error=f"not a valid notebook: nbformat 3 file that could not be converted ({exc})",
            )
        notes.append("nbformat 3 notebook converted to nbformat 4")
    elif major != 4:
        return Repaired(None, error=f"unknown nbformat version {major!r} (expected 4)")
    cells = raw.get("cells")
    if not isinstance(cells, list):
        return Repaired(None, error="not a valid notebook: no list of cells")
    kept = []
    for i, cell in enumerate(cells):
        if not (isinstance(cell, dict) and cell.get("cell_type") in ("code", "markdown", "raw")):
            notes.append(f"cell {i + 1} is not a valid notebook cell and was removed")
            continue
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        nbg = cell["metadata"].get("nbgrader")
        if nbg is not None and not isinstance(nbg, dict):
            del cell["metadata"]["nbgrader"]
            notes.append(f"cell {i + 1} had malformed nbgrader metadata, which was removed")
        cell["source"] = source_text(cell)
        kept.append(cell)
    raw["cells"] = kept
    if not isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {}
    return Repaired(raw, notes)


def _find(cells: list[dict[str, Any]], ref: dict[str, Any]) -> int | None:
    gid = grade_id(ref)
    for i, cell in enumerate(cells):
        if gid is not None and grade_id(cell) == gid:
            return i
        if gid is None and ref.get("id") and cell.get("id") == ref.get("id"):
            return i
    return None


def repair(text: str | bytes, source: dict[str, Any], release: dict[str, Any]) -> Repaired:
    """Repair a submission (its file's text) against the lesson's source and release notebooks.

    Returns the notebook to grade and one note per fix, or ``error`` when it cannot be graded.
    """
    result = _load(text)
    if result.nb is None:
        return result
    nb, notes = result.nb, result.notes
    src_cells = {grade_id(c): c for c in source["cells"] if grade_id(c)}
    rel_cells = {grade_id(c): c for c in release["cells"] if grade_id(c)}
    seen: set[str] = set()
    cells: list[dict[str, Any]] = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader")
        if meta is None:
            cells.append(cell)
            continue
        gid = meta.get("grade_id")
        if gid not in src_cells:
            del cell["metadata"]["nbgrader"]
            notes.append(
                f"cell with unknown grade_id {gid!r} is not graded "
                "(its nbgrader metadata was removed)"
            )
            cells.append(cell)
            continue
        if gid in seen:
            notes.append(f"duplicated grade cell {gid} removed")
            continue
        seen.add(gid)
        src, rel = src_cells[gid], rel_cells.get(gid, src_cells[gid])
        src_meta = src["metadata"]["nbgrader"]
        if meta.get("schema_version", NBGRADER_SCHEMA) != NBGRADER_SCHEMA:
            notes.append(
                f"schema_version {meta.get('schema_version')!r} of cell {gid} "
                f"reset to {NBGRADER_SCHEMA}"
            )
        if "points" in src_meta and meta.get("points") != src_meta["points"]:
            notes.append(
                f"points of {gid} changed from {src_meta['points']} to "
                f"{meta.get('points')!r} and were restored"
            )
        if cell["cell_type"] != src["cell_type"]:
            notes.append(f"cell {gid} changed type to {cell['cell_type']} and was restored")
            cell["cell_type"] = src["cell_type"]
        if _is_locked_source(src):
            if _norm(source_text(cell)) != _norm(source_text(rel)):
                kind = "test cell" if src_meta.get("grade") else "read-only cell"
                notes.append(f"{kind} {gid} was edited and the original was restored")
            cell["source"] = source_text(src)
        cell["metadata"] = {
            **cell["metadata"],
            **copy.deepcopy(
                {
                    k: v
                    for k, v in rel["metadata"].items()
                    if k in ("nbgrader", "editable", "deletable")
                }
            ),
        }
        cell["metadata"]["nbgrader"]["schema_version"] = NBGRADER_SCHEMA
        cells.append(cell)
    # restore deleted cells after the cell that precedes them in the source notebook
    order = source["cells"]
    for pos, src in enumerate(order):
        gid = grade_id(src)
        if gid is None or gid in seen:
            continue
        if _is_locked_source(src):
            restored = copy.deepcopy(src)
            kind = "test cell" if src["metadata"]["nbgrader"].get("grade") else "read-only cell"
        else:
            restored = copy.deepcopy(rel_cells.get(gid, src))
            kind = "solution cell"
        restored["metadata"] = copy.deepcopy(rel_cells.get(gid, src)["metadata"])
        restored["source"] = source_text(src if _is_locked_source(src) else restored)
        at = 0
        for prev in reversed(order[:pos]):
            found = _find(cells, prev)
            if found is not None:
                at = found + 1
                break
        cells.insert(at, restored)
        seen.add(gid)
        notes.append(f"{kind} {gid} was missing and was restored")
    # kernel: the lesson's, whatever the submission says
    if nb["metadata"].get("kernelspec") != source["metadata"].get("kernelspec"):
        old = (nb["metadata"].get("kernelspec") or {}).get("name")
        notes.append(
            f"kernelspec changed to {old!r} and was restored to "
            f"{source['metadata']['kernelspec']['name']!r}"
        )
        nb["metadata"]["kernelspec"] = copy.deepcopy(source["metadata"]["kernelspec"])
    if "language_info" in source["metadata"]:
        nb["metadata"]["language_info"] = copy.deepcopy(source["metadata"]["language_info"])
    ids: set[str] = set()
    for cell in cells:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid or cid in ids:
            cid = uuid.uuid4().hex[:12]
            cell["id"] = cid
        ids.add(cid)
    nb["cells"] = cells
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return Repaired(nb, notes)
