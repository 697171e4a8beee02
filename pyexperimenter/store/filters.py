"""Which columns a `--where` may name, and the kind each compares as.

The grammar, the typing of values and the semantics are pyexperimenter/where.py's; here the
store says what a table holds: its parameters and results with their configured types, the
bookkeeping columns users may read (store/sql/schema.py's MAIN_INTERNAL less the hidden
ones, each with its Column kind, so a renamed or added column flows through), result
timestamps, and any other column an existing table has (as text). The same columns and
kinds serve every command: run, launch, reset, status, results, report and the Python API.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..sqltypes import is_identifier
from ..where import NO_FILTER, Filter, compile_where
from .sql.schema import ATTEMPT_COLUMNS, MAIN_INTERNAL
from .types import TableSchema

_INTERNAL_KINDS = {"pk": "int", "int": "int", "bigint": "int", "double": "float", "bool": "bool",
                   "datetime": "datetime"}


def column_kinds(schema: TableSchema, existing: Iterable[str], attempts: bool = False) -> dict[str, str]:
    """The columns a user may read and select on (the table's, less the hidden ones), each with
    its kind: int, float, decimal, bool, datetime, date, json or str. `attempts`: also the
    attempt table's columns a `--with-provenance` read joins in."""
    kinds: dict[str, str] = {}
    if attempts:
        kinds = {c.name: _INTERNAL_KINDS.get(c.kind, "str") for c in ATTEMPT_COLUMNS}
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


def compile_filter(schema: TableSchema, existing: Iterable[str],
                   where: Iterable[str | tuple[str, str, str]]) -> Filter:
    """`--where` texts (or parsed triples) on this table -> a Filter; bad input is one InputError line."""
    return compile_where(where, column_kinds(schema, existing))


__all__ = ["NO_FILTER", "Filter", "column_kinds", "compile_filter"]
