"""Conditions as SQL text: the one place a WHERE is rendered from checked shapes.

Two kinds of shapes arrive: a `--where` Filter's (column, operator) pairs
(store/filters.py, for claims, resets and counts) and a results Selection's forms
(store/select.py, for reading results as pandas would filter them). Values are never in the
text: each `?` is bound. Only validated identifiers and the fixed shapes below are written.
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError
from ...sqltypes import is_identifier
from ..types import OPERATORS
from .dialect import Dialect

COMPARISONS = ("=", "<", "<=", ">", ">=")
Shape = tuple[Any, ...]


def identifier(name: Any) -> str:
    if not is_identifier(name):
        raise InputError(f"unsafe column name {name!r}")
    return str(name)


def filter_condition(dialect: Dialect, column: str, op: str) -> str:
    """One `--where` condition on a validated column; `<>` keeps NULLs, as `results` does."""
    if op not in OPERATORS:
        raise InputError(f"unsafe operator {op!r}")
    col = dialect.q(identifier(column))
    if op in ("IS NULL", "IS NOT NULL"):
        return f"{col} {op}"
    return f"({col} <> ? OR {col} IS NULL)" if op == "<>" else f"{col} {op} ?"


def exact_text(dialect: Dialect, expr: str) -> str:
    """Exact text for comparing and grouping: MariaDB's default collation ignores case and
    trailing spaces. A binary collation without padding, not CAST(... AS BINARY): grouping
    a million rows on the cast costs a second more (1.9 s -> 2.9 s, benchmarks/scale.py)."""
    return f"CONVERT({expr} USING utf8mb4) COLLATE utf8mb4_nopad_bin" if dialect.name == "mysql" else expr


def render_condition(dialect: Dialect, shape: Shape) -> str:
    form = shape[0]
    if form == "never":
        return "1 = 0"
    if form == "always":
        return "1 = 1"
    c = dialect.q(identifier(shape[1]))
    if form == "null":
        return f"{c} IS NULL"
    if form == "not_null":
        return f"{c} IS NOT NULL"
    if form == "cmp":
        if shape[2] not in COMPARISONS:
            raise InputError(f"unknown operator {shape[2]!r}")
        return f"{c} {shape[2]} ?"
    if form == "ne":
        return f"({c} IS NULL OR {c} != ?)"
    if form == "text_eq":
        return f"{exact_text(dialect, c)} = {exact_text(dialect, '?')}"
    if form == "text_ne":
        return f"({c} IS NULL OR {exact_text(dialect, c)} != {exact_text(dialect, '?')})"
    if form == "in":
        return f"{c} IN ({','.join('?' * int(shape[2]))})"
    raise InputError(f"unknown condition {form!r}")


def render_where(dialect: Dialect, shapes: tuple[Shape, ...]) -> str:
    return " WHERE " + " AND ".join(render_condition(dialect, s) for s in shapes) if shapes else ""
