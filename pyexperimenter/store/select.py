"""Reading results in the database: `--status`, `--where` and `--columns` as a WHERE clause and
a column list, `--group-by` as GROUP BY, so that only the answer leaves the server.

`Selection` is built from what a user typed. Every column it names is checked against the
table's columns (what `get_table()` would show) and its kind (number, boolean, text) decides
how a `--where` value compares, the way the pandas filter (results/filtering.py) compares it:
numbers numerically, booleans as true/false, the rest as exact text, `null` for missing, and
`!=` matching missing values too. Values travel as bound parameters; the SQL text holds only
validated identifiers and the fixed shapes rendered by `render_*` below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..sqltypes import is_identifier
from ..status import ALL_STATUSES
from .base import TableSchema
from .dialect import Dialect
from .schema import MAIN_INTERNAL

NUMBER_KINDS = frozenset({"int", "float", "decimal"})
SQL_AGGREGATES = frozenset({"mean", "min", "max", "count", "std"})
_NULLS = {"", "null", "none", "nan"}
_TRUTH = {"true": 1, "1": 1, "yes": 1, "false": 0, "0": 0, "no": 0}
_OPERATORS = ("=", "<", "<=", ">", ">=")
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


# ----------------------------------------------------------------------------- rendering


def _text(dialect: Dialect, expr: str) -> str:
    """Exact text for comparing and grouping: MariaDB's default collation ignores case and
    trailing spaces. A binary collation without padding, not CAST(... AS BINARY): grouping
    a million rows on the cast costs a second more (1.9 s -> 2.9 s, benchmarks/scale.py)."""
    return f"CONVERT({expr} USING utf8mb4) COLLATE utf8mb4_nopad_bin" if dialect.name == "mysql" else expr


def _number(dialect: Dialect, expr: str) -> str:
    """A value as a double, as pandas computes (MariaDB's AVG of integers is a 4-digit DECIMAL)."""
    return f"CAST({expr} AS DOUBLE)" if dialect.name == "mysql" else expr


def render_condition(dialect: Dialect, shape: Shape) -> str:
    form = shape[0]
    if form == "never":
        return "1 = 0"
    if form == "always":
        return "1 = 1"
    c = dialect.q(_identifier(shape[1]))
    if form == "null":
        return f"{c} IS NULL"
    if form == "not_null":
        return f"{c} IS NOT NULL"
    if form == "cmp":
        if shape[2] not in _OPERATORS:
            raise InputError(f"unknown operator {shape[2]!r}")
        return f"{c} {shape[2]} ?"
    if form == "ne":
        return f"({c} IS NULL OR {c} != ?)"
    if form == "text_eq":
        return f"{_text(dialect, c)} = {_text(dialect, '?')}"
    if form == "text_ne":
        return f"({c} IS NULL OR {_text(dialect, c)} != {_text(dialect, '?')})"
    if form == "in":
        return f"{c} IN ({','.join('?' * int(shape[2]))})"
    raise InputError(f"unknown condition {form!r}")


def render_where(dialect: Dialect, shapes: tuple[Shape, ...]) -> str:
    return " WHERE " + " AND ".join(render_condition(dialect, s) for s in shapes) if shapes else ""


def render_columns(dialect: Dialect, names: tuple[str, ...]) -> str:
    return ", ".join(dialect.q(_identifier(n)) for n in names)


def render_csv_line(dialect: Dialect, columns: tuple[tuple[str, str], ...]) -> str:
    """One row as a line of CSV, made by the server (MariaDB): the client then decodes one
    string per row instead of every field in Python, which bound a million-row export to
    pymysql's speed (benchmarks/scale.py). What csv.writer writes of what the driver returns,
    read back: missing values empty, booleans True/False, text in quotes (always: the file
    reads the same, and finding the texts that need them cost the server 2 s a million rows);
    numbers and dates are the server's own text of them, the very text the driver would have
    parsed (floats round-trip, DECIMAL exact)."""
    if dialect.name != "mysql":
        raise InputError("rows are written as CSV by the server only on MariaDB")
    fields = []
    for name, kind in columns:
        c = dialect.q(_identifier(name))
        if kind == "bool":
            fields.append(f"CASE WHEN {c} IS NULL THEN '' WHEN {c} THEN 'True' ELSE 'False' END")
        elif kind in ("str", "json"):
            fields.append(f"IFNULL(CONCAT('\"', REPLACE({c}, '\"', '\"\"'), '\"'), '')")
        else:
            fields.append(f"IFNULL({c}, '')")
    return f"CONCAT_WS(',', {', '.join(fields)})"


def group_expression(dialect: Dialect, column: str, kind: str) -> str:
    c = dialect.q(_identifier(column))
    return f"{_text(dialect, c)} AS {c}" if kind in ("str", "json") else c


def group_keys(dialect: Dialect, groups: tuple[tuple[str, str], ...]) -> str:
    """GROUP BY / ORDER BY over the group columns, text compared exactly (see `_text`)."""
    return ", ".join(
        _text(dialect, dialect.q(_identifier(c))) if k in ("str", "json") else dialect.q(_identifier(c)) for c, k in groups
    )


def maybe_number(dialect: Dialect, c: str) -> str:
    """Whether a text could read as a number (has a digit, or is inf): pandas' to_numeric
    would take it, so a text column holding one is aggregated value by value."""
    # bytes, not characters: MariaDB's regular expression is three times faster on them
    digits = f"CAST({c} AS BINARY) REGEXP '[0-9]'" if dialect.name == "mysql" else f"{c} GLOB '*[0-9]*'"
    return f"({digits} OR {c} LIKE '%inf%')"


def render_aggregates(dialect: Dialect, aggregates: tuple[tuple[str, str], ...]) -> str:
    """`, COUNT(*), AVG(x), ...`: the group size first, then one expression per (function, column).
    `numbers` is 1 where a text column of the group holds something that may read as a number,
    asked in the same pass as the aggregates rather than by a scan of its own."""
    out = [", COUNT(*)"]
    for func, column in aggregates:
        c = dialect.q(_identifier(column))
        if func == "numbers":
            out.append(f", MAX(CASE WHEN {maybe_number(dialect, c)} THEN 1 ELSE 0 END)")
        elif func == "mean":
            out.append(f", AVG({_number(dialect, c)})")
        elif func in ("min", "max"):
            out.append(f", {func.upper()}({c})")
        elif func == "count":
            out.append(f", COUNT({c})")
        elif func == "std" and dialect.name == "mysql":  # Welford's recurrence inside MariaDB
            out.append(f", STDDEV_SAMP({_number(dialect, c)})")
        elif func == "sq":  # mean square about a shift bound twice (`pyexp report`'s spreads in SQLite)
            out.append(f", AVG(({_number(dialect, c)} - ?) * ({_number(dialect, c)} - ?))")
        else:
            raise InputError(f"{func} is not aggregated in SQL here")
    return "".join(out)


def sql_aggregates(dialect: Dialect) -> frozenset[str]:
    """What the database computes itself: SQLite has no standard deviation, neither a median."""
    return SQL_AGGREGATES if dialect.name == "mysql" else SQL_AGGREGATES - {"std"}


def _identifier(name: Any) -> str:
    if not is_identifier(name):
        raise InputError(f"unsafe column name {name!r}")
    return str(name)
