"""Schema versions: every experiment table records its version, and each version has one
upgrade step, run once, in place, in order.

The versions are kept in one registry table per database, `pyexp_schema` (SCHEMA_TABLE):
one row per experiment table, its version and when it was last upgraded. `create` records
CURRENT_VERSION for a table it makes. A table without a registry row (made before the
registry existed) has its version read off its columns (`detect`), then the steps from
there run. A new bookkeeping column is one more step here, never an adoption path of its
own.

Versions:
  0  a table PyExperimenter 1.4 made: its columns only
  1  adopted or made by pyexperimenter: our bookkeeping columns, unprefixed
  2  the columns added later (priority; the attempts' provenance and output columns)
  3  our columns renamed to `pyexp_...` (no parameter or result can take them), the
     attempts' job columns named for any scheduler, and the attempts' `scheduler`
  4  the attempts' token index where it is missing; on SQLite the status indexes partial,
     each over the rows it serves (Index.where), so a claim and a finish rewrite fewer pages
  5  the attempts' usage columns (wall_seconds, cpu_seconds, peak_rss_mb, gpu_peak_mb) and
     the code `snapshot` each ran
  6  `pyexp_state`, the state dict a resumable experiment saved (docs/long-runs.md)
  7  MariaDB's counter triggers skip the rows a finish counts itself (counters.py)

Concurrency: the check and the steps run under a lock, so of two processes opening an
old table at once one upgrades and the other then finds the new version: on SQLite the
transaction's writer lock (BEGIN IMMEDIATE), on MariaDB a named lock (GET_LOCK), since
each ALTER TABLE there commits on its own, on PostgreSQL an advisory lock the upgrade's one
transaction holds (its DDL is transactional: a failed step leaves nothing half-done). A step is written so that running it again
after a crash half-way finishes it (every column is checked before it is added or
renamed); the version is recorded after each step.

Workers of an earlier version must be stopped before a table is upgraded to version 3:
they would write the old column names and fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import DatabaseUnavailable, TableMismatch
from ..sql.ddl import addable
from ..sql.schema import (
    ATTEMPT_OUTCOME_INDEX,
    ATTEMPT_TOKEN_INDEX,
    ATTEMPTS_ADDED_LATER,
    ATTEMPTS_ADDED_V5,
    MAIN_ADDED_V6,
    MAIN_INTERNAL,
    PARTIAL_INDEXES,
    RENAMED_ATTEMPTS,
    RENAMED_MAIN,
    RETIRED_ATTEMPT_INDEXES,
    SCHEMA_TABLE,
    Index,
)
from . import adopt, counters
from .session import Cursor, Session

log = logging.getLogger(__name__)

Rank = Callable[[], int]
LOCK_WAIT_SECONDS = 600  # MariaDB: how long a process waits for another's upgrade


@dataclass(frozen=True)
class Step:
    version: int  # the version a table has after this step
    why: str
    run: Callable[[Session, Cursor, Rank], None]


def _columns(session: Session, cur: Cursor) -> set[str]:
    return {c.lower() for c in session.table_columns(cur) or ()}


def _ours(session: Session, have: set[str]) -> set[str]:
    """The columns that may be ours: a parameter or result may now take an unprefixed name
    an earlier version kept (`claim_token`, `worker`), and is never taken for ours."""
    schema = session.schema
    return have - {c.lower() for c in (*schema.parameters, *schema.result_columns())}


def _attempt_columns(session: Session, cur: Cursor) -> set[str]:
    sqlite = session.dialect.name == "sqlite"
    args = () if sqlite else (session.schema.attempts_table,)
    return {str(r[1] if sqlite else r[0]).lower() for r in session.run(cur, "attempt_columns", args).fetchall()}


def check_adoptable(session: Session, have: set[str]) -> None:
    """A table without our columns must be PyExperimenter's and hold the config's parameters."""
    schema = session.schema
    missing = [p for p in schema.parameters if p.lower() not in have]
    if missing or not adopt.adoptable(have):
        what = f"lacks the parameter column(s) {', '.join(missing)}" if missing else "was not made by pyexperimenter"
        raise TableMismatch(
            f"table {schema.name} exists but {what}; "
            f"use another experiment name or drop it with `pyexp delete CONFIG --yes`"
        )


def _adopt(session: Session, cur: Cursor, rank: Rank) -> None:
    """1: a PyExperimenter 1.4 table gains our columns (store/engine/adopt.py) and its rows
    their parameter hashes; `create` then adds the indexes, side tables and counters."""
    have = _columns(session, cur)
    check_adoptable(session, have)
    adopt.add_columns(session, cur, have)
    adopt.hash_unhashed(session, cur, rank)


def _add_missing(session: Session, cur: Cursor) -> None:
    """Bookkeeping columns the table lacks under either name, and the attempts' columns."""
    have = _ours(session, _columns(session, cur))
    for col in MAIN_INTERNAL:
        old = RENAMED_MAIN.get(col.name, "")
        if addable(col) and col.name.lower() not in have and old not in have:
            session.run(cur, "add_column", column=col.name)
    have_attempts = _attempt_columns(session, cur)
    if have_attempts:  # an adopted table gets its attempts table from `create`
        for name in ATTEMPTS_ADDED_LATER:
            if name not in have_attempts:
                session.run(cur, "add_attempt_column", attempt_column=name)


def _added_later(session: Session, cur: Cursor, rank: Rank) -> None:
    """2: the columns added since version 1 (`priority`; the attempts' provenance and output)."""
    _add_missing(session, cur)


def _renamed(session: Session, cur: Cursor, rank: Rank) -> None:
    """3: our columns renamed to `pyexp_...`, the attempts' SLURM columns to job_id,
    array_job_id, array_task_id, and the attempts' `scheduler` added. The counter triggers
    read a renamed column (MariaDB's keep the old name): dropped first, made again after,
    and the counts recounted."""
    counted = counters.uninstall(session, cur)
    have = _ours(session, _columns(session, cur))
    for new, old in RENAMED_MAIN.items():
        if old in have and new not in have:
            session.run(cur, "rename_column", target=session.schema.name, rename=(old, new))
    have_attempts = _attempt_columns(session, cur)
    for new, old in RENAMED_ATTEMPTS.items():
        if old in have_attempts and new not in have_attempts:
            session.run(cur, "rename_column", target=session.schema.attempts_table, rename=(old, new))
    _add_missing(session, cur)
    if counted:
        counters.install(session, cur)


def create_index(session: Session, cur: Cursor, table: str, index: Index) -> None:
    """One index of store/sql/schema.py, if missing (partial where the database has them)."""
    if index.unique:
        session.run(cur, "create_unique_index", target=table, index=(table, index.name),
                    index_columns=(index.columns, index.descending))
    else:
        session.run(cur, "create_index", target=table, index=(table, index.name),
                    index_columns=(index.columns, index.descending, index.prefix), index_where=index.where)


def _indexes(session: Session, cur: Cursor, rank: Rank) -> None:
    """4: the attempts' token index, which closing a claim's attempts names on MariaDB, is
    made where a table lacks it; on SQLite the status indexes are made again as partial
    indexes (MariaDB has none). Made at once, not at the next fill: the claim, the lost-run
    sweep and status read them."""
    schema = session.schema
    if _attempt_columns(session, cur):  # an adopted table gets its attempts table from `create`
        create_index(session, cur, schema.attempts_table, ATTEMPT_TOKEN_INDEX)
    if session.dialect.partial_indexes:
        for index in PARTIAL_INDEXES:
            session.run(cur, "drop_index", index=(schema.name, index.name))
            create_index(session, cur, schema.name, index)


def retire_attempt_indexes(session: Session, cur: Cursor) -> None:
    """Drop the attempt indexes a later one replaced; called after the replacements are made,
    so status never lacks an index."""
    schema = session.schema
    on: dict[str, Any] = {} if session.dialect.global_index_names else {"target": schema.attempts_table}  # MariaDB
    for name in RETIRED_ATTEMPT_INDEXES:
        session.run(cur, "drop_index", index=(schema.attempts_table, name), **on)


def _usage(session: Session, cur: Cursor, rank: Rank) -> None:
    """5: what each attempt used and the code snapshot it ran, NULL for the attempts before;
    the outcome index made again with the peak (ix_outcome_peak), at once as in step 4:
    without it `pyexp status` reads every attempt for each outcome's peak (2.9 s instead of
    0.5 s at a million rows, until the next fill)."""
    have_attempts = _attempt_columns(session, cur)
    if have_attempts:  # an adopted table gets its attempts table from `create`
        for name in ATTEMPTS_ADDED_V5:
            if name not in have_attempts:
                session.run(cur, "add_attempt_column", attempt_column=name)
        create_index(session, cur, session.schema.attempts_table, ATTEMPT_OUTCOME_INDEX)
        retire_attempt_indexes(session, cur)


def _state(session: Session, cur: Cursor, rank: Rank) -> None:
    """6: the saved state of a resumable experiment, NULL for every row until it saves one."""
    have = _ours(session, _columns(session, cur))
    for name in MAIN_ADDED_V6:
        if name not in have:
            session.run(cur, "add_column", column=name)


def _finish_counts(session: Session, cur: Cursor, rank: Rank) -> None:
    """7: on MariaDB, the counter triggers of a finish made again to leave its rows to it."""
    counters.leave_finishes(session, cur)


STEPS: tuple[Step, ...] = (
    Step(1, "adopt a PyExperimenter 1.4 table", _adopt),
    Step(2, "add the bookkeeping columns added later", _added_later),
    Step(3, "rename our columns to pyexp_..., the attempts' job columns for any scheduler", _renamed),
    Step(4, "the attempts' token index; the status indexes partial (SQLite)", _indexes),
    Step(5, "the attempts' usage and snapshot columns", _usage),
    Step(6, "the saved state of resumable experiments", _state),
    Step(7, "counter triggers that leave a finish's rows to it (MariaDB)", _finish_counts),
)
CURRENT_VERSION = STEPS[-1].version


def detect(session: Session, cur: Cursor, have: set[str]) -> int:
    """The version of a table without a registry row, from its columns."""
    if "pyexp_token" in have:
        return 3  # renamed; the later steps are cheap to run again where they had run
    if "claim_token" not in have:
        return 0
    main = all(c.name.lower() in have or RENAMED_MAIN.get(c.name) in have for c in MAIN_INTERNAL if addable(c))
    attempts = _attempt_columns(session, cur)
    return 2 if main and all(c in attempts for c in ATTEMPTS_ADDED_LATER if c != "scheduler") else 1


def recorded(session: Session, cur: Cursor) -> int | None:
    """The version the registry holds for this table; None without a row (or a registry)."""
    if not session.run(cur, "registry_exists", (SCHEMA_TABLE,)).fetchone()[0]:
        return None
    row = session.run(cur, "schema_version", (session.schema.name,)).fetchone()
    return None if row is None else int(row[0])


def record(session: Session, cur: Cursor, version: int = CURRENT_VERSION) -> None:
    """Record the table's version (`create` records the current one for a table it makes)."""
    session.run(cur, "schema_registry")
    session.run(cur, "record_version", (session.schema.name, int(version)))


def forget(session: Session, cur: Cursor) -> None:
    """The table is dropped (`pyexp delete`): its row leaves the registry."""
    if session.run(cur, "registry_exists", (SCHEMA_TABLE,)).fetchone()[0]:
        session.run(cur, "forget_version", (session.schema.name,))


def upgrade(session: Session, rank: Rank, adopt_table: bool = False) -> int | None:
    """Bring the experiment table to CURRENT_VERSION; returns the version it had (None: no
    table). A PyExperimenter table (version 0) is adopted only with `adopt_table` (fill,
    and the Experimenter's commands); otherwise it is left as it is. Every store calls
    this when it opens: a table at the current version costs one read of the registry."""
    if not adopt_table and session.transaction(lambda cur: recorded(session, cur)) == CURRENT_VERSION:
        return CURRENT_VERSION
    return session.transaction(lambda cur: _locked(session, cur, rank, adopt_table))


def ddl_lock(session: Session, cur: Cursor) -> None:
    """Where DDL is transactional (PostgreSQL), two processes making the same table at once
    collide in the catalog (a unique violation, not IF NOT EXISTS's quiet skip): making
    tables takes the schema lock first, held until the transaction ends."""
    if session.dialect.schema_lock == "transaction":
        session.run(cur, "schema_lock", (session.schema.name,))


def _locked(session: Session, cur: Cursor, rank: Rank, adopt_table: bool) -> int | None:
    lock = session.dialect.schema_lock
    if lock == "transaction":  # held until the transaction ends, whichever way
        session.run(cur, "schema_lock", (session.schema.name,))
        return _steps(session, cur, rank, adopt_table)
    named = lock == "named"
    if named and session.run(cur, "schema_lock", (session.schema.name, LOCK_WAIT_SECONDS)).fetchone()[0] != 1:
        raise DatabaseUnavailable(f"another process has been upgrading table {session.schema.name} for "
                                  f"{LOCK_WAIT_SECONDS} s; try again when it is done")
    try:
        return _steps(session, cur, rank, adopt_table)
    finally:
        if named:
            session.run(cur, "schema_unlock", (session.schema.name,))


def _steps(session: Session, cur: Cursor, rank: Rank, adopt_table: bool) -> int | None:
    columns = _columns(session, cur)
    if not columns:
        return None
    have = _ours(session, columns)
    found = recorded(session, cur)  # read again under the lock: another process may have upgraded
    if "pyexp_token" not in have and "claim_token" not in have:
        version = 0  # whatever the registry says: PyExperimenter made this table (again)
    else:
        version = found if found is not None else detect(session, cur, have)
    if version >= CURRENT_VERSION or (version == 0 and not adopt_table):
        if version >= CURRENT_VERSION and found != version:
            record(session, cur, version)
        return version
    if found != version:
        record(session, cur, version)  # a crash half-way resumes from here
    for step in STEPS[version:]:
        log.info("table %s: schema version %d: %s", session.schema.name, step.version, step.why)
        step.run(session, cur, rank)
        record(session, cur, step.version)
    return version
