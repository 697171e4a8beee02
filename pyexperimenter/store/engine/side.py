"""The side tables: installed-package lists (provenance) and launch records (`pyexp cancel`),
and the rows appended beside an experiment's row while it runs (log rows, CodeCarbon's).

Package lists and launches are small and written rarely (once per worker process, once per
launch), so they live next to the experiment table instead of in files: any login node that
reaches the database sees which jobs a launch submitted, and a package list is kept once
however many attempts ran with it. Each call first makes sure the tables and the attempts'
provenance columns exist (`ddl.ensure_side`), so tables filled by an earlier version need no
refill. Appended rows are fenced by the claim like results are, so a worker declared lost
cannot add rows to a newer attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..sql.schema import CODECARBON_COLUMNS, local_stamp
from . import ddl
from .session import Cursor, Session

T = TypeVar("T")


class SideTables:
    """The side tables of one store; made sure of once per store."""

    def __init__(self, session: Session):
        self.session = session
        self.ready = False  # ensure_side ran on this store

    def transaction(self, body: Callable[[Cursor], T]) -> T:
        """`body` in a transaction that first makes sure the side tables exist."""
        session = self.session

        def run(cur: Cursor) -> T:
            if not self.ready:
                ddl.ensure_side(session, cur)
            return body(cur)

        result: T = session.transaction(run)
        self.ready = True
        return result

    def record_packages(self, packages_hash: str, packages: str) -> None:
        run = self.session.run

        def body(cur: Cursor) -> None:
            if run(cur, "known_packages", (packages_hash,)).fetchone() is None:
                run(cur, "record_packages", (packages_hash, packages))

        self.transaction(body)

    def provenance(self) -> list[dict[str, Any]]:
        s = self.session
        return [s.decode_row(row) for row in self.transaction(lambda cur: s.fetch_dicts(s.run(cur, "latest_provenance")))]

    def record_launch(self, kind: str, job_ids: Sequence[str], host: str) -> list[int]:
        s = self.session
        return self.transaction(lambda cur: [s.inserted_id(s.run(cur, "record_launch", (kind, str(j), host)))
                                             for j in job_ids])

    def launches(self) -> list[dict[str, Any]]:
        s = self.session
        return [s.decode_row(row) for row in self.transaction(lambda cur: s.fetch_dicts(s.run(cur, "active_launches")))]

    def launch_ended(self, job_id: str) -> bool:
        run = self.session.run
        return bool(self.transaction(lambda cur: run(cur, "launch_ended", (job_id,)).fetchone()[0]))

    def end_launches(self, ids: Sequence[int]) -> None:
        run = self.session.run
        if ids:
            self.transaction(lambda cur: run(cur, "end_launches", list(ids), ids=len(ids)))

    def reopen_launches(self, ids: Sequence[int]) -> None:
        run = self.session.run
        if ids:
            self.transaction(lambda cur: run(cur, "reopen_launches", list(ids), ids=len(ids)))


def write_logs(session: Session, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
    """One row per log table, all stamped with one time (the server's, or for PyExperimenter's
    tables the worker's local time to the second, as it stamped them)."""
    schema = session.schema
    rows: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    for table, values in logs.items():
        columns = schema.logtables.get(table)
        if columns is None:
            raise KeyError(table)
        for col in values:
            if col not in columns:
                raise KeyError(f"{table}.{col}")
        parts = {"target": schema.logtable(table), "log_columns": tuple(values), "more_marks": len(values)}
        rows.append((parts, tuple(columns[c].to_db(v, f"{table}.{c}") for c, v in values.items())))

    def body(cur: Cursor) -> bool:
        # Lock the row while it still carries our token: no sweep can requeue it before
        # this transaction ends, so the log rows belong to a live attempt, all or none.
        locked = session.run(cur, "write_logs_lock", (row_id, token)).fetchone()
        if locked is None:
            return False
        stamp = local_stamp() if schema.local_timestamps else locked[1]
        for parts, args in rows:
            session.run(cur, "write_log", (row_id, stamp, *args), **parts)
        return True

    return session.transaction(body)


def write_codecarbon(session: Session, token: str, row_id: int, values: Mapping[str, Any]) -> bool:
    """One INSERT ... SELECT from the experiment row under its fence: nothing is added
    unless the row still runs under this claim. Missing or empty values are NULL."""
    if not session.schema.codecarbon:
        raise KeyError(session.schema.codecarbon_table)
    row = [_value(values.get(c.name)) for c in CODECARBON_COLUMNS]
    return session.transaction(lambda cur: session.run(cur, "write_codecarbon", (*row, row_id, token)).rowcount == 1)


def _value(value: Any) -> Any:
    """Codecarbon leaves fields it cannot measure as "" (PyExperimenter stored NULL)."""
    return None if value == "" else value
