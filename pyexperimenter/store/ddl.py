"""The tables: their columns from the tuples of store/schema.py, created, checked, dropped.

Column lists are built here from validated identifiers and allow-listed types only; the
statements that carry them are named in store/queries.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InputError, TableMismatch
from . import adopt, counters
from .base import TableSchema
from .dialect import Dialect
from .schema import (
    ATTEMPT_COLUMNS,
    ATTEMPT_INDEXES,
    ATTEMPTS_ADDED_LATER,
    CODECARBON_COLUMNS,
    CODECARBON_HEAD,
    LAUNCH_COLUMNS,
    LOG_HEAD,
    LOG_INDEXES,
    MAIN_HEAD,
    MAIN_ID,
    MAIN_INDEXES,
    MAIN_INTERNAL,
    MAIN_TAIL,
    PACKAGE_COLUMNS,
    PACKAGE_INDEXES,
    Column,
    Index,
    filter_index,
    timestamp_column,
)

if TYPE_CHECKING:
    from .sql import SqlStore

Cursor = Any


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
    """A provenance column added to an older attempts table."""
    if name not in ATTEMPTS_ADDED_LATER:
        raise InputError(f"{name!r} is not an attempt column of a newer version")
    return dialect.column(next(c for c in ATTEMPT_COLUMNS if c.name == name))


def addable(col: Column) -> bool:
    return col.kind != "pk" and (not col.not_null or col.default is not None)


def upgrade(store: SqlStore, cur: Cursor) -> None:
    """Give a table made by an earlier version the bookkeeping columns added since (e.g.
    `error_summary`), in place. A table that does not exist yet is left to `create`, and one
    PyExperimenter 1.4 made (no `claim_token`) to adoption, which adds its columns in order."""
    existing = store._table_columns(cur)
    have = {c.lower() for c in existing or ()}
    if existing is not None and "claim_token" in have:
        _add_internal(store, cur, have)


def _add_internal(store: SqlStore, cur: Cursor, have: set[str]) -> None:
    for col in MAIN_INTERNAL:
        if col.name.lower() not in have and addable(col):
            store._run(cur, "add_column", column=col.name)


def indexes(schema: TableSchema) -> list[tuple[str, Index]]:
    found = [(schema.name, i) for i in MAIN_INDEXES] + [(schema.attempts_table, i) for i in ATTEMPT_INDEXES]
    found += [(schema.packages_table, i) for i in PACKAGE_INDEXES]
    return found + [(schema.logtable(n), i) for n in schema.logtables for i in LOG_INDEXES]


def extra_tables(schema: TableSchema) -> list[str]:
    """The tables beside the experiment table: attempts, log tables, CodeCarbon's."""
    extra = [schema.attempts_table, *(schema.logtable(n) for n in schema.logtables)]
    return extra + [schema.codecarbon_table] if schema.codecarbon else extra


def create(store: SqlStore, cur: Cursor, rank: Callable[[], int]) -> None:
    """Create what is missing; an existing experiment table is checked and may gain columns."""
    schema = store.schema
    existing = store._table_columns(cur)
    if existing is None:
        store._run(cur, "create_table", target=schema.name, columns=schema.name)
    else:
        check_structure(store, cur, existing)
        adopt.hash_unhashed(store, cur, rank)
    for table in extra_tables(schema):
        store._run(cur, "create_table", target=table, columns=table)
    for table, index in indexes(schema):
        if table != schema.packages_table:
            _create_index(store, cur, table, index)
    ensure_side(store, cur)
    counters.install(store, cur)


def ensure_side(store: SqlStore, cur: Cursor) -> None:
    """The provenance columns of the attempts table and the side tables (`<table>_packages`,
    `<table>_launches`), for tables an earlier version made: workers and launches call this
    too, so an experiment filled before an upgrade needs no refill."""
    schema = store.schema
    args = () if store.dialect.name == "sqlite" else (schema.attempts_table,)
    rows = store._run(cur, "attempt_columns", args).fetchall()
    have = {str(r[1] if store.dialect.name == "sqlite" else r[0]).lower() for r in rows}
    for column in ATTEMPTS_ADDED_LATER:
        if have and column not in have:
            store._run(cur, "add_attempt_column", attempt_column=column)
    for table in (schema.packages_table, schema.launches_table):
        store._run(cur, "create_table", target=table, columns=table)
    for index in PACKAGE_INDEXES:
        _create_index(store, cur, schema.packages_table, index)


def _create_index(store: SqlStore, cur: Cursor, table: str, index: Index) -> None:
    query = "create_unique_index" if index.unique else "create_index"
    store._run(cur, query, target=table, index=(table, index.name), index_columns=(index.columns, index.descending))


def create_filter_index(store: SqlStore, cur: Cursor, column: str) -> None:
    """The index a claim filtered on `column` uses, made on first use (`run --where`)."""
    _create_index(store, cur, store.schema.name, filter_index(column))


def check_structure(store: SqlStore, cur: Cursor, existing: list[str]) -> None:
    schema = store.schema
    have = {c.lower() for c in existing}
    missing = [p for p in schema.parameters if p.lower() not in have]
    if missing or ("claim_token" not in have and not adopt.adoptable(have)):
        what = f"lacks the parameter column(s) {', '.join(missing)}" if missing else "was not made by pyexperimenter"
        raise TableMismatch(
            f"table {schema.name} exists but {what}; "
            f"use another experiment name or drop it with `pyexp delete CONFIG --yes`"
        )
    if "claim_token" not in have:
        adopt.add_columns(store, cur, have)
    _add_internal(store, cur, have)
    # New result columns may be added to a running experiment without losing anything.
    for name in schema.results:
        for column in [name, f"{name}_timestamp"] if schema.result_timestamps else [name]:
            if column.lower() not in have:
                store._run(cur, "add_column", column=column)


def drop(store: SqlStore, cur: Cursor) -> None:
    schema = store.schema
    tables = [schema.counts_table, schema.packages_table, schema.launches_table, *reversed(extra_tables(schema))]
    for table in [*tables, schema.name]:
        store._run(cur, "drop_table", target=table)
