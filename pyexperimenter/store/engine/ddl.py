"""The tables made, checked, upgraded and dropped; a PyExperimenter 1.4 table adopted.

Column texts come from store/sql/ddl.py; this module decides which statements to send.
"""

from __future__ import annotations

from collections.abc import Callable

from ...errors import TableMismatch
from ..sql.ddl import addable
from ..sql.schema import (
    ATTEMPT_INDEXES,
    ATTEMPTS_ADDED_LATER,
    LOG_INDEXES,
    MAIN_INDEXES,
    MAIN_INTERNAL,
    PACKAGE_INDEXES,
    Index,
    filter_index,
)
from ..types import TableSchema
from . import adopt, counters
from .session import Cursor, Session


def upgrade(session: Session) -> None:
    """Give a table made by an earlier version the bookkeeping columns added since (e.g.
    `error_summary`), in place. A table that does not exist yet is left to `create`, and one
    PyExperimenter 1.4 made (no `claim_token`) to adoption, which adds its columns in order."""

    def body(cur: Cursor) -> None:
        existing = session.table_columns(cur)
        have = {c.lower() for c in existing or ()}
        if existing is not None and "claim_token" in have:
            _add_internal(session, cur, have)

    try:
        session.transaction(body)
    except Exception:
        # Another process may have added the column first (MariaDB then says so).
        columns = session.transaction(session.table_columns) or []
        if any(c.name not in columns for c in MAIN_INTERNAL if addable(c)):
            raise


def _add_internal(session: Session, cur: Cursor, have: set[str]) -> None:
    for col in MAIN_INTERNAL:
        if col.name.lower() not in have and addable(col):
            session.run(cur, "add_column", column=col.name)


def indexes(schema: TableSchema) -> list[tuple[str, Index]]:
    found = [(schema.name, i) for i in MAIN_INDEXES] + [(schema.attempts_table, i) for i in ATTEMPT_INDEXES]
    found += [(schema.packages_table, i) for i in PACKAGE_INDEXES]
    return found + [(schema.logtable(n), i) for n in schema.logtables for i in LOG_INDEXES]


def extra_tables(schema: TableSchema) -> list[str]:
    """The tables beside the experiment table: attempts, log tables, CodeCarbon's."""
    extra = [schema.attempts_table, *(schema.logtable(n) for n in schema.logtables)]
    return extra + [schema.codecarbon_table] if schema.codecarbon else extra


def create(session: Session, cur: Cursor, rank: Callable[[], int]) -> None:
    """Create what is missing; an existing experiment table is checked and may gain columns."""
    schema = session.schema
    existing = session.table_columns(cur)
    if existing is None:
        session.run(cur, "create_table", target=schema.name, columns=schema.name)
    else:
        check_structure(session, cur, existing)
        adopt.hash_unhashed(session, cur, rank)
    for table in extra_tables(schema):
        session.run(cur, "create_table", target=table, columns=table)
    for table, index in indexes(schema):
        if table != schema.packages_table:
            _create_index(session, cur, table, index)
    ensure_side(session, cur)
    counters.install(session, cur)


def adopt_table(session: Session, cur: Cursor, rank: Callable[[], int]) -> bool:
    """Make a PyExperimenter 1.4 table ours in place (store/engine/adopt.py: columns and
    indexes added, rows kept); False when there was nothing to do."""
    columns = session.table_columns(cur)
    if columns is None or "claim_token" in {c.lower() for c in columns}:
        return False
    create(session, cur, rank)
    return True


def ensure_side(session: Session, cur: Cursor) -> None:
    """The provenance columns of the attempts table and the side tables (`<table>_packages`,
    `<table>_launches`), for tables an earlier version made: workers and launches call this
    too, so an experiment filled before an upgrade needs no refill."""
    schema, sqlite = session.schema, session.dialect.name == "sqlite"
    args = () if sqlite else (schema.attempts_table,)
    rows = session.run(cur, "attempt_columns", args).fetchall()
    have = {str(r[1] if sqlite else r[0]).lower() for r in rows}
    for column in ATTEMPTS_ADDED_LATER:
        if have and column not in have:
            session.run(cur, "add_attempt_column", attempt_column=column)
    for table in (schema.packages_table, schema.launches_table):
        session.run(cur, "create_table", target=table, columns=table)
    for index in PACKAGE_INDEXES:
        _create_index(session, cur, schema.packages_table, index)


def _create_index(session: Session, cur: Cursor, table: str, index: Index) -> None:
    query = "create_unique_index" if index.unique else "create_index"
    session.run(cur, query, target=table, index=(table, index.name), index_columns=(index.columns, index.descending))


def create_filter_index(session: Session, column: str) -> None:
    """The index a claim filtered on `column` uses, made on first use (`run --where`)."""
    session.transaction(lambda cur: _create_index(session, cur, session.schema.name, filter_index(column)))


def check_structure(session: Session, cur: Cursor, existing: list[str]) -> None:
    schema = session.schema
    have = {c.lower() for c in existing}
    missing = [p for p in schema.parameters if p.lower() not in have]
    if missing or ("claim_token" not in have and not adopt.adoptable(have)):
        what = f"lacks the parameter column(s) {', '.join(missing)}" if missing else "was not made by pyexperimenter"
        raise TableMismatch(
            f"table {schema.name} exists but {what}; "
            f"use another experiment name or drop it with `pyexp delete CONFIG --yes`"
        )
    if "claim_token" not in have:
        adopt.add_columns(session, cur, have)
    _add_internal(session, cur, have)
    # New result columns may be added to a running experiment without losing anything.
    for name in schema.results:
        for column in [name, f"{name}_timestamp"] if schema.result_timestamps else [name]:
            if column.lower() not in have:
                session.run(cur, "add_column", column=column)


def drop(session: Session) -> None:
    schema = session.schema
    tables = [schema.counts_table, schema.packages_table, schema.launches_table, *reversed(extra_tables(schema))]

    def body(cur: Cursor) -> None:
        for table in [*tables, schema.name]:
            session.run(cur, "drop_table", target=table)

    session.transaction(body)
