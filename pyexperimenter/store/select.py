"""Reading results in the database: `--status`, `--where` and `--columns` as a WHERE clause and
a column list, `--group-by` as GROUP BY, so that only the answer leaves the server.

`Selection` is built from what a user typed. Every column it names is checked against the
table's columns (what `get_table()` would show) and its kind (number, boolean, text) decides
how a `--where` value compares (pyexperimenter/where.py: one meaning for every command and
for the pandas filter of results/filtering.py). Values travel as bound parameters; the SQL
text holds only validated identifiers and the fixed shapes rendered by store/sql/conditions.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..status import ALL_STATUSES
from ..where import compile_where
from .filters import column_kinds

NUMBER_KINDS = frozenset({"int", "float", "decimal"})

# A condition's shape: (form, ...), rendered by store/sql/conditions.py's render_condition:
#   where, column, op, kind, form    a `--where` condition (where.Condition.shape)
#   in, column, n                    column IN (?, ...)
#   cmp, column, op                  column op ?      (the halves of a CSV export, on ID)
Shape = tuple[Any, ...]


@dataclass
class Selection:
    """The rows and columns asked for; `shapes` and `args` make the WHERE clause."""

    kinds: Mapping[str, str]
    shapes: list[Shape] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def known(self, column: str, option: str) -> str:
        if column not in self.kinds:
            raise InputError(f"{option}: unknown column {column!r}; expected one of {', '.join(self.kinds)}")
        return column

    def status(self, statuses: Sequence[str]) -> Selection:
        for s in statuses:
            if s not in ALL_STATUSES:
                raise InputError(f"--status: unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}")
        if statuses:
            wanted = list(dict.fromkeys(statuses))
            self.shapes.append(("in", "status", len(wanted)))
            self.args += wanted
        return self

    def where(self, conditions: Iterable[str | tuple[str, str, str]]) -> Selection:
        """`--where` texts (or parsed triples), typed by pyexperimenter/where.py."""
        for cond in compile_where(conditions, self.kinds).conditions:
            self.shapes.append(("where", *cond.shape))
            self.args += cond.args
        return self

    def columns(self, names: Sequence[str]) -> tuple[str, ...]:
        """The output columns: those named (each once, in order), else every readable one."""
        if not names:
            return tuple(self.kinds)
        return tuple(self.known(c, "--columns") for c in dict.fromkeys(names))

    def where_parts(self, *extra: Shape) -> tuple[Shape, ...]:
        return (*self.shapes, *extra)


__all__ = ["NUMBER_KINDS", "Selection", "Shape", "column_kinds"]
