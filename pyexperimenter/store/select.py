"""Reading results in the database: `--status`, `--where` and `--columns` as a WHERE clause and
a column list, `--group-by` as GROUP BY, so that only the answer leaves the server.

`Selection` is built from what a user typed. Every column it names is checked against the
table's columns (what `get_table()` would show) and its kind (number, boolean, text) decides
how a `--where` value compares, the way the pandas filter (results/filtering.py) compares it:
numbers numerically, booleans as true/false, the rest as exact text, `null` for missing, and
`!=` matching missing values too. Values travel as bound parameters; the SQL text holds only
validated identifiers and the fixed shapes rendered by store/sql/conditions.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..sqltypes import is_identifier
from ..status import ALL_STATUSES
from .sql.schema import MAIN_INTERNAL
from .types import TableSchema

NUMBER_KINDS = frozenset({"int", "float", "decimal"})
_NULLS = {"", "null", "none", "nan"}
_TRUTH = {"true": 1, "1": 1, "yes": 1, "false": 0, "0": 0, "no": 0}
_INTERNAL_KINDS = {"pk": "int", "int": "int", "bigint": "int", "datetime": "datetime"}

# A condition's shape: (form, column, ...). Forms and what they render to (`c` the quoted column):
#   null / not_null              c IS NULL / c IS NOT NULL
#   cmp, op                      c op ?                       (numbers, booleans)
#   ne                           (c IS NULL OR c != ?)        (pandas: missing differs from a value)
#   text_eq / text_ne            exact text, case and trailing spaces included
#   in, n                        c IN (?, ...)
#   never / always               1 = 0 / 1 = 1                (text against a number column)
Shape = tuple[Any, ...]


def column_kinds(schema: TableSchema, existing: Iterable[str]) -> dict[str, str]:
    """The columns a user may read (the table's, less the hidden ones), each with its kind:
    int, float, decimal, bool, datetime, date, json or str."""
    kinds: dict[str, str] = {}
    internal = {c.name: c for c in MAIN_INTERNAL}
    for name in existing:
        col = internal.get(name)
        if col is not None:
            if not col.hidden:
                kinds[name] = _INTERNAL_KINDS.get(col.kind, "str")
        elif name in schema.parameters:
            kinds[name] = schema.parameters[name].kind
        elif name in schema.results:
            kinds[name] = schema.results[name].kind
        elif name.endswith("_timestamp") and name.removesuffix("_timestamp") in schema.results:
            kinds[name] = "datetime"
        elif is_identifier(name):
            kinds[name] = "str"
    return kinds


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

    def where(self, conditions: Iterable[tuple[str, str, str]]) -> Selection:
        """`(column, operator, text)` triples, as results.parse_condition returns them."""
        for column, op, text in conditions:
            self._condition(self.known(column, "--where"), "=" if op == "==" else op, text)
        return self

    def _condition(self, column: str, op: str, text: str) -> None:
        kind = self.kinds[column]
        if text.lower() in _NULLS and op in ("=", "!="):
            self.shapes.append(("null" if op == "=" else "not_null", column))
            return
        value: Any
        if kind == "bool":
            if text.lower() not in _TRUTH:
                raise InputError(f"--where: expected true or false for a boolean column, got {text!r}")
            value = _TRUTH[text.lower()]
        elif kind in NUMBER_KINDS:
            try:
                value = float(text)
            except ValueError:
                if op not in ("=", "!="):
                    raise InputError(f"--where: expected a number to compare with, got {text!r}") from None
                self.shapes.append(("never" if op == "=" else "always",))  # text is no number
                return
        else:
            if op not in ("=", "!="):
                raise InputError(f"--where: {op} needs a numeric column, got {text!r}")
            self.shapes.append(("text_eq" if op == "=" else "text_ne", column))
            self.args.append(text)
            return
        self.shapes.append(("ne", column) if op == "!=" else ("cmp", column, op))
        self.args.append(value)

    def columns(self, names: Sequence[str]) -> tuple[str, ...]:
        """The output columns: those named (each once, in order), else every readable one."""
        if not names:
            return tuple(self.kinds)
        return tuple(self.known(c, "--columns") for c in dict.fromkeys(names))

    def where_parts(self, *extra: Shape) -> tuple[Shape, ...]:
        return (*self.shapes, *extra)
