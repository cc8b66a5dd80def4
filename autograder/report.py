"""Write the results of a batch: ``grades.csv``, ``grades.html`` and a short summary."""

from __future__ import annotations

import csv
import html
import os
from collections import Counter, defaultdict
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
        "table{border-collapse:collapse}.error{background:#fee}.flagged{background:#ffc}"
        "</style>",
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
        cls = f" class='{rec['status']}'" if rec["status"] in ("error", "flagged") else ""
        lines.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def summary(rows: list[Any]) -> str:
    """The end-of-batch report: counts per status; per lesson the mean of each exercise and
    of the total over its graded rows; the rows flagged for review and the errors, with why."""
    counts = Counter(r.status for r in rows)
    shown = ["graded", *(["flagged"] if counts["flagged"] else []), "error"]
    shown += sorted(set(counts) - set(shown))
    lines = [", ".join(f"{counts[s]} {s}" for s in shown) + f", {len(rows)} in all"]
    by_lesson: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.lesson:
            by_lesson[row.lesson].append(row)
    for lesson in sorted(by_lesson):
        graded = [r for r in by_lesson[lesson] if r.status == "graded"]
        if not graded:
            lines.append(f"  {lesson}: no graded submission ({len(by_lesson[lesson])} in all)")
            continue
        total = sum(float(r.total or 0) for r in graded) / len(graded)
        lines.append(
            f"  {lesson}: mean {total:.2f} / {_fmt(float(graded[0].max_score))} "
            f"over {len(graded)} graded submission(s)"
        )
        exercises = exercise_columns(graded)
        width = max((len(g) for g in exercises), default=0)
        for gid in exercises:
            scored = [r for r in graded if gid in r.exercises]
            mean = sum(float(r.scores.get(gid, 0)) for r in scored) / len(scored)
            out_of = _fmt(float(scored[0].max_scores.get(gid, 0)))
            lines.append(f"    {gid:<{width}}  {mean:.2f} / {out_of}")
    for status, title in (("flagged", "flagged for review"), ("error", "errors")):
        listed = sorted((r for r in rows if r.status == status), key=_by_student)
        if listed:
            lines.append(f"{title} ({len(listed)}):")
            lines += [f"  {r.student}  {r.lesson or '-'}  {r.reason}" for r in listed]
    return "\n".join(lines)


def _by_student(row: Any) -> tuple[str, str]:
    return row.student, row.lesson
