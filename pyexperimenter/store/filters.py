"""`--where` conditions checked and typed: which rows a worker claims, `reset` resets, `status` counts.

The condition text is parsed above this package (`COL=VALUE`, the syntax of `pyexp
results --where`); here each becomes a column checked against the table's own columns, an
operator from a fixed list, and a value typed by the column and bound as a parameter (store/sql/conditions.py renders them). So
`seed<3` compares numbers, `flag=true` booleans, and `gamma=null` finds NULLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from ..sqltypes import SqlType
from .types import NO_FILTER, Filter, TableSchema

# what the user writes -> what the SQL says (`IS [NOT] NULL` for a null value)
_SQL_OP = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NULLS = {"", "null", "none", "nan"}
_TRUTH = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# bookkeeping columns worth selecting on, with the kind of their values
_BOOKKEEPING = {"pyexp_priority": "int", "pyexp_attempts": "int", "status": "str", "pyexp_worker": "str",
                "machine": "str", "pyexp_job_id": "str"}


def compile_filter(schema: TableSchema, conditions: Iterable[tuple[str, str, str]]) -> Filter:
    """(column, operator, value text) triples -> a Filter; bad input is one InputError line."""
    kinds: dict[str, str] = {**_BOOKKEEPING, **_kinds(schema.parameters), **_kinds(schema.results)}
    shape: list[tuple[str, str]] = []
    args: list[Any] = []
    for column, op, text in conditions:
        if column not in kinds:
            raise InputError(f"--where: unknown column {column!r}; expected one of {', '.join(kinds)}")
        if op not in _SQL_OP:
            raise InputError(f"--where: expected one of {', '.join(_SQL_OP)}, got {op!r}")
        sql_op = _SQL_OP[op]
        if text.strip().lower() in _NULLS and sql_op in ("=", "<>"):
            shape.append((column, "IS NULL" if sql_op == "=" else "IS NOT NULL"))
            continue
        shape.append((column, sql_op))
        args.append(_value(column, kinds[column], sql_op, text.strip()))
    return Filter(tuple(shape), tuple(args))


def _kinds(columns: Mapping[str, SqlType]) -> dict[str, str]:
    return {name: t.kind for name, t in columns.items()}


def _value(column: str, kind: str, op: str, text: str) -> Any:
    if kind == "bool":
        if text.lower() not in _TRUTH:
            raise InputError(f"--where: {column}: expected true or false, got {text!r}")
        return int(_TRUTH[text.lower()])
    if kind in ("int", "float", "decimal"):
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"--where: {column}: expected a number, got {text!r}") from None
        return int(number) if kind == "int" and number.is_integer() else number
    if op not in ("=", "<>"):
        raise InputError(f"--where: {op} needs a numeric column, {column} holds {kind}")
    return text


__all__ = ["NO_FILTER", "Filter", "compile_filter"]  # Filter: store/types.py's, named here as before
