"""A list of row dicts that prints as an aligned text table (lessons, ``bench/``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Table"]


class Table(list):
    """A list of row dicts that prints as an aligned text table.

    Introduced in lesson 10 (mobile-and-optimization), where ``mobile.compare`` and
    ``mobile.sparsity`` return one; ``bench/`` prints its figures with it. Floats print with
    ``digits`` decimals; ``table.row("int8")`` finds a row by its first column,
    ``table.column("accuracy")`` lists one column.
    """

    def __init__(
        self, rows: Iterable[Mapping[str, Any]] = (), *, title: str = "", digits: int = 3
    ) -> None:
        super().__init__(dict(r) for r in rows)
        self.title = title
        self.digits = digits

    def column(self, key: str) -> list[Any]:
        return [row.get(key) for row in self]

    def row(self, name: Any) -> dict[str, Any]:
        for row in self:
            if next(iter(row.values()), None) == name:
                return row
        raise KeyError(f"no row named {name!r}; rows: {[next(iter(r.values())) for r in self]}")

    def _cell(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "-"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{self.digits}f}"
        return str(value)

    def __str__(self) -> str:
        if not self:
            return f"{self.title}\n(empty)" if self.title else "(empty)"
        keys = list(dict.fromkeys(k for row in self for k in row))
        cells = [[self._cell(row.get(k)) for k in keys] for row in self]
        widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

        def line(values: Sequence[str]) -> str:
            # the first column (the names) aligned left, the numbers right
            pairs = enumerate(zip(values, widths, strict=True))
            return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in pairs)

        header = line(keys)
        out = [self.title] if self.title else []
        out += [header, "-" * len(header), *(line(c) for c in cells)]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)
