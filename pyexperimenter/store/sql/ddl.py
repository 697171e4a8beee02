"""The text of the tables: column definitions from the tuples of store/sql/schema.py.

Built from validated identifiers and allow-listed types only; the statements that carry
them (create_table, add_column, ...) are named in store/sql/queries.sql.
"""

from __future__ import annotations

from dataclasses import replace

from ...errors import InputError
from ..types import TableSchema
from .dialect import Dialect
from .schema import (
    ATTEMPT_COLUMNS,
    ATTEMPTS_ADDED_LATER,
    ATTEMPTS_ADDED_V5,
    CODECARBON_COLUMNS,
    CODECARBON_HEAD,
    LAUNCH_COLUMNS,
    LOG_HEAD,
    MAIN_HEAD,
    MAIN_ID,
    MAIN_INTERNAL,
    MAIN_TAIL,
    PACKAGE_COLUMNS,
    Column,
    timestamp_column,
)


def table_columns(dialect: Dialect, schema: TableSchema, table: str) -> str:
    """The column definitions of one of the experiment's tables, in their order."""
    if table == schema.name:
        cols = [dialect.column(MAIN_ID)]
        cols += [dialect.user_column(n, t) for n, t in schema.parameters.items()]
        cols += [dialect.column(c) for c in MAIN_HEAD]
        for name, sql_type in schema.results.items():
            cols.append(dialect.user_column(name, sql_type))
            if schema.result_timestamps:
                cols.append(dialect.column(timestamp_column(name, schema.local_timestamps)))
        cols += [dialect.column(c) for c in MAIN_TAIL]
    elif table == schema.attempts_table:
        cols = [dialect.column(c) for c in ATTEMPT_COLUMNS]
    elif schema.codecarbon and table == schema.codecarbon_table:
        cols = [dialect.column(c) for c in (*CODECARBON_HEAD, *CODECARBON_COLUMNS)]
    elif table == schema.packages_table:
        cols = [dialect.column(c) for c in PACKAGE_COLUMNS]
    elif table == schema.launches_table:
        cols = [dialect.column(c) for c in LAUNCH_COLUMNS]
    else:
        log = next((n for n in schema.logtables if schema.logtable(n) == table), None)
        if log is None:
            raise InputError(f"unknown table {table!r}")
        cols = [dialect.column(c) for c in LOG_HEAD]
        cols += [dialect.user_column(n, t) for n, t in schema.logtables[log].items()]
    return ", ".join(cols)


def addable(col: Column) -> bool:
    """Whether a bookkeeping column can be added to a table that has rows."""
    return col.kind != "pk" and (not col.not_null or col.default is not None)


def added_column(dialect: Dialect, schema: TableSchema, name: str) -> str:
    """The definition of a result column (or its timestamp), or of a bookkeeping column newer
    than the table, added to an existing table."""
    internal = next((c for c in MAIN_INTERNAL if c.name == name and addable(c)), None)
    if internal is not None:
        return dialect.column(internal)
    if name in schema.results:
        return dialect.user_column(name, schema.results[name])
    base = name.removesuffix("_timestamp")
    if schema.result_timestamps and base in schema.results and name != base:
        return dialect.column(timestamp_column(base, schema.local_timestamps))
    raise InputError(f"{name!r} is not a result column")


def attempt_column(dialect: Dialect, name: str) -> str:
    """A column added to an attempts table made by an earlier version (provenance, scheduler)."""
    if name not in ATTEMPTS_ADDED_LATER and name not in ATTEMPTS_ADDED_V5:
        raise InputError(f"{name!r} is not an attempt column of a newer version")
    return dialect.column(next(c for c in ATTEMPT_COLUMNS if c.name == name))


def internal_column(dialect: Dialect, name: str) -> str:
    """A bookkeeping column added to an adopted table. The parameter hash may be NULL there:
    PyExperimenter 1.4, which keeps writing to the table, inserts rows without one."""
    col = next((c for c in MAIN_TAIL if c.name == name), None)
    if col is None:
        raise InputError(f"{name!r} is not a bookkeeping column")
    if col.name == "pyexp_hash":
        col = replace(col, not_null=False)
    return dialect.column(col)
