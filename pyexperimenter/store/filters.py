"""`--where` conditions as SQL: which rows a worker claims, `reset` resets, `status` counts.

The condition text is parsed above this package (`COL=VALUE`, the syntax of `pyexp
results --where`); here each becomes a column checked against the table's own columns, an
operator from a fixed list, and a value typed by the column and bound as a parameter. So
`seed<3` compares numbers, `flag=true` booleans, and `gamma=null` finds NULLs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..sqltypes import SqlType

if TYPE_CHECKING:
    from .base import TableSchema

# what the user writes -> what the SQL says (`IS [NOT] NULL` for a null value)
OPERATORS = frozenset({"=", "<>", "<", "<=", ">", ">=", "IS NULL", "IS NOT NULL"})
_SQL_OP = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NULLS = {"", "null", "none", "nan"}
_TRUTH = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# bookkeeping columns worth selecting on, with the kind of their values
_BOOKKEEPING = {"priority": "int", "attempts": "int", "status": "str", "worker": "str", "machine": "str",
                "slurm_job_id": "str"}


@dataclass(frozen=True)
class Filter:
    """Checked conditions: `shape` (column, SQL operator) renders the SQL, `args` are bound."""

    shape: tuple[tuple[str, str], ...] = ()
    args: tuple[Any, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.shape)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c for c, _ in self.shape))

    def matches(self, row: Mapping[str, Any]) -> bool:
        """The Python reading of the SQL this renders (for the in-memory store): a NULL fails
        every comparison but `<>`, which keeps it, as `results --where` does."""
        args = iter(self.args)
        for column, op in self.shape:
            value = row.get(column)
            if op in ("IS NULL", "IS NOT NULL"):
                if (value is None) != (op == "IS NULL"):
                    return False
                continue
            wanted = next(args)
            if value is None:
                if op != "<>":
                    return False
            elif not _COMPARE[op](value, wanted):
                return False
        return True


NO_FILTER = Filter()


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
