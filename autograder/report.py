"""Write the results of a batch: ``grades.csv``, ``grades.html`` and a short summary."""

from __future__ import annotations

import csv
import html
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

FIXED = ["student", "lesson"]
TAIL = ["total", "max_score", "status", "reason", "device"]


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def exercise_columns(rows: list[Any]) -> list[str]:
    """One column per exercise grade_id, in lesson order then notebook order."""
    columns: list[str] = []
    for row in sorted(rows, key=lambda r: r.lesson):
        for gid in row.exercises:
            if gid not in columns:
                columns.append(gid)
    return columns


def table(rows: list[Any]) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of ``grades.csv`` as strings, sorted by student then lesson."""
    exercises = exercise_columns(rows)
    header = FIXED + exercises + TAIL
    out = []
    for row in sorted(rows, key=lambda r: (r.student, r.lesson)):
        record = {"student": row.student, "lesson": row.lesson}
        for gid in exercises:
            record[gid] = _fmt(row.scores.get(gid)) if gid in row.exercises else ""
        record.update(
            total=_fmt(row.total),
            max_score=_fmt(row.max_score),
            status=row.status,
            reason=row.reason,
            device=row.device,
        )
        out.append(record)
    return header, out


def write_csv(rows: list[Any], path: str | os.PathLike) -> Path:
    """Write ``grades.csv``."""
    header, records = table(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(records)
    return path


def write_html(rows: list[Any], path: str | os.PathLike) -> Path:
    """Write ``grades.html``: the same table, with links to each feedback page."""
    header, records = table(rows)
    path = Path(path)
    lines = [
        "<!doctype html><meta charset='utf-8'><title>Grades</title>",
        "<style>td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}.error{background:#fee}</style>",
        "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>",
    ]
    by_key = {(r.student, r.lesson): r for r in rows}
    for rec in records:
        row = by_key.get((rec["student"], rec["lesson"]))
        cells = []
        for h in header:
            text = html.escape(rec[h])
            if h == "student" and row is not None and row.feedback:
                link = os.path.relpath(row.feedback, path.parent)
                text = f"<a href='{html.escape(link)}'>{text}</a>"
            cells.append(f"<td>{text}</td>")
        cls = " class='error'" if rec["status"] == "error" else ""
        lines.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def summary(rows: list[Any]) -> str:
    """Counts of graded and error rows and the mean total per lesson."""
    graded = [r for r in rows if r.status == "graded"]
    lines = [f"{len(graded)} graded, {len(rows) - len(graded)} error, {len(rows)} in all"]
    totals: dict[str, list[float]] = defaultdict(list)
    maxima: dict[str, float] = {}
    for row in rows:
        if row.lesson and row.max_score not in ("", None):
            totals[row.lesson].append(float(row.total or 0))
            maxima[row.lesson] = float(row.max_score)
    for lesson in sorted(totals):
        values = totals[lesson]
        mean = sum(values) / len(values)
        lines.append(
            f"  {lesson}: mean {mean:.2f} / {maxima[lesson]:g} over {len(values)} submission(s)"
        )
    return "\n".join(lines)
