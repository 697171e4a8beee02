"""Conditions as SQL text: the one place a WHERE is rendered.

A `--where` arrives as the value-free shapes of a where.Filter (column, operator, kind,
form); `render_where_shape` is the only renderer of them, for the claims, resets and counts
(the `conditions` and `where_conditions` fragments) and for the results' selections
(store/select.py adds `("in", "status", n)` and `("cmp", "ID", op)` of its own). Values are
never in the text: each `?` is bound, in the order of the Filter's `args`. Only validated
identifiers and the fixed shapes below are written.

Text compares byte for byte on every database. SQLite's default (BINARY) collation does so;
MariaDB's utf8mb4 collations ignore case (`_ci`) and, PAD SPACE ones (`utf8mb4_bin` too),
trailing spaces. So on MariaDB a text `=` is `c = ? AND <exact c> = <exact ?>`: the first
part, in the column's own collation, keeps the index range (`ix_where_<column>` for claims),
the second keeps only the rows with the same bytes (utf8mb4_nopad_bin: binary, no padding).
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError
from ...sqltypes import is_identifier
from ...where import OPERATORS, TEXT
from .dialect import Dialect

COMPARISONS = ("=", "<", "<=", ">", ">=")
_SQL_OP = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
Shape = tuple[Any, ...]


def identifier(name: Any) -> str:
    if not is_identifier(name):
        raise InputError(f"unsafe column name {name!r}")
    return str(name)


def exact_text(dialect: Dialect, expr: str) -> str:
    """Exact text for comparing and grouping: MariaDB's default collation ignores case and
    trailing spaces. A binary collation without padding, not CAST(... AS BINARY): grouping
    a million rows on the cast costs a second more (1.9 s -> 2.9 s, benchmarks/scale.py)."""
    return f"CONVERT({expr} USING utf8mb4) COLLATE utf8mb4_nopad_bin" if dialect.name == "mysql" else expr


def render_where_shape(dialect: Dialect, shape: Shape) -> str:
    """One `--where` condition (where.Condition.shape); binds its `args`."""
    column, op, kind, form = shape
    if op not in OPERATORS:
        raise InputError(f"unsafe operator {op!r}")
    if form == "never":
        return "1 = 0"
    if form == "always":
        return "1 = 1"
    c = dialect.q(identifier(column))
    if form == "null":
        return f"{c} IS NULL"
    if form == "not_null":
        return f"{c} IS NOT NULL"
    if form != "compare":
        raise InputError(f"unknown condition {form!r}")
    if kind == TEXT:
        if op == "=":  # the column's collation for the index, then the exact bytes
            if exact_text(dialect, c) == c:
                return f"{c} = ? AND {c} = ?"
            return f"{c} = ? AND {exact_text(dialect, c)} = {exact_text(dialect, '?')}"
        if op == "!=":
            return f"({c} IS NULL OR {exact_text(dialect, c)} <> {exact_text(dialect, '?')})"
        raise InputError(f"--where: {op} needs a numeric column")
    if op == "!=":
        return f"({c} IS NULL OR {c} <> ?)"  # a missing value differs from the value
    return f"{c} {_SQL_OP[op]} ?"


def render_filter(dialect: Dialect, shapes: tuple[Shape, ...], lead: str) -> str:
    """A Filter's shapes joined by AND, after `lead` (" AND " or " WHERE "); "" for none."""
    if not shapes:
        return ""
    return lead + " AND ".join(render_where_shape(dialect, s) for s in shapes)


def render_condition(dialect: Dialect, shape: Shape) -> str:
    """A results selection's condition: `("where", *condition shape)`, `("in", column, n)`
    or `("cmp", column, op)` (the halves of a CSV export split on ID)."""
    form = shape[0]
    if form == "where":
        return render_where_shape(dialect, shape[1:])
    c = dialect.q(identifier(shape[1]))
    if form == "cmp":
        if shape[2] not in COMPARISONS:
            raise InputError(f"unknown operator {shape[2]!r}")
        return f"{c} {shape[2]} ?"
    if form == "in":
        return f"{c} IN ({','.join('?' * int(shape[2]))})"
    raise InputError(f"unknown condition {form!r}")


def render_where(dialect: Dialect, shapes: tuple[Shape, ...]) -> str:
    return " WHERE " + " AND ".join(render_condition(dialect, s) for s in shapes) if shapes else ""
