"""The tables made, checked and dropped (their upgrades, adoption included, are the steps
of store/engine/migrations.py).

Column texts come from store/sql/ddl.py; this module decides which statements to send.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...errors import TableMismatch
from ..sql.queries import TRIGGER_KINDS
from ..sql.schema import (
    ATTEMPT_INDEXES,
    INDEX_PREFIX_CHARS,
    LOG_INDEXES,
    MAIN_INDEXES,
    MAIN_INTERNAL,
    PACKAGE_INDEXES,
    RANK_INDEX,
    Index,
    filter_index,
)
from ..types import TableSchema
from . import adopt, counters, migrations
from .session import Cursor, Session


def indexes(schema: TableSchema) -> list[tuple[str, Index]]:
    found = [(schema.name, i) for i in MAIN_INDEXES] + [(schema.attempts_table, i) for i in ATTEMPT_INDEXES]
    found += [(schema.packages_table, i) for i in PACKAGE_INDEXES]
    return found + [(schema.logtable(n), i) for n in schema.logtables for i in LOG_INDEXES]


def extra_tables(schema: TableSchema) -> list[str]:
    """The tables beside the experiment table: attempts, log tables, CodeCarbon's."""
    extra = [schema.attempts_table, *(schema.logtable(n) for n in schema.logtables)]
    return extra + [schema.codecarbon_table] if schema.codecarbon else extra


def create(session: Session, cur: Cursor, rank: Callable[[], int]) -> None:
    """Create what is missing; an existing experiment table (brought to the current schema
    version by store/engine/migrations.py first) is checked and may gain result columns.
    A table made here is recorded at the current version."""
    schema = session.schema
    migrations.ddl_lock(session, cur)
    existing = session.table_columns(cur)
    if existing is None:
        session.run(cur, "create_table", target=schema.name, columns=schema.name)
        migrations.record(session, cur)
    else:
        check_structure(session, cur, existing)
        adopt.hash_unhashed(session, cur, rank)
    for table in extra_tables(schema):
        session.run(cur, "create_table", target=table, columns=table)
    for table, index in indexes(schema):
        if table != schema.packages_table:
            migrations.create_index(session, cur, table, index)
    migrations.retire_attempt_indexes(session, cur)
    ensure_side(session, cur)
    counters.install(session, cur)


def ensure_side(session: Session, cur: Cursor) -> None:
    """The side tables (`<table>_packages`, `<table>_launches`), for tables an earlier
    version made: workers and launches call this too, so an experiment filled before an
    upgrade needs no refill."""
    schema = session.schema
    migrations.ddl_lock(session, cur)
    for table in (schema.packages_table, schema.launches_table):
        session.run(cur, "create_table", target=table, columns=table)
    for index in PACKAGE_INDEXES:
        migrations.create_index(session, cur, schema.packages_table, index)


def create_rank_index(session: Session) -> None:
    """The index of random-order claims, made on first use (store/sql/schema.py says why)."""
    session.transaction(lambda cur: migrations.create_index(session, cur, session.schema.name, RANK_INDEX))


def create_filter_index(session: Session, column: str) -> None:
    """The index a claim filtered on `column` uses, made on first use (`run --where`)."""
    index = filter_index(column, long_text=_long_text(session, column))

    def body(cur: Cursor) -> None:
        migrations.ddl_lock(session, cur)
        migrations.create_index(session, cur, session.schema.name, index)

    session.transaction(body)


LONG_TEXT_COLUMNS = frozenset(c.name for c in MAIN_INTERNAL if c.kind == "long_text")


def _long_text(session: Session, column: str) -> bool:
    """Whether MariaDB could not index `column` whole: text beyond INDEX_PREFIX_CHARS characters
    (TEXT, JSON, a long VARCHAR), or one of our own long text columns (error)."""
    sql_type = session.column_types.get(column)
    if sql_type is None:
        return column in LONG_TEXT_COLUMNS
    m = re.fullmatch(r"(?:VAR)?CHAR\((\d+)\)", sql_type.name)
    return sql_type.kind in ("str", "json") and not (m and int(m.group(1)) <= INDEX_PREFIX_CHARS)


def check_structure(session: Session, cur: Cursor, existing: list[str]) -> None:
    schema = session.schema
    have = {c.lower() for c in existing}
    missing = [p for p in schema.parameters if p.lower() not in have]
    if missing or "pyexp_token" not in have:
        what = f"lacks the parameter column(s) {', '.join(missing)}" if missing else "was not made by pyexperimenter"
        raise TableMismatch(
            f"table {schema.name} exists but {what}; "
            f"use another experiment name or drop it with `pyexp delete CONFIG --yes`"
        )
    # New result columns may be added to a running experiment without losing anything.
    for name in schema.results:
        for column in [name, f"{name}_timestamp"] if schema.result_timestamps else [name]:
            if column.lower() not in have:
                session.run(cur, "add_column", column=column)


def drop(session: Session) -> None:
    """Drop the table and every table beside it, CodeCarbon's whether or not the config still
    asks for it (a table made with it on keeps it after it is turned off)."""
    schema = session.schema
    extra = extra_tables(schema)
    if not schema.codecarbon:
        extra.append(schema.codecarbon_table)
    tables = [schema.counts_table, schema.packages_table, schema.launches_table, *reversed(extra)]

    def body(cur: Cursor) -> None:
        if session.dialect.name == "postgres":  # its counter triggers' functions outlive the tables
            for kind in TRIGGER_KINDS:
                session.run(cur, "drop_trigger", trigger_kind=kind)
        for table in [*tables, schema.name]:
            session.run(cur, "drop_table", target=table)
        migrations.forget(session, cur)

    session.transaction(body)
