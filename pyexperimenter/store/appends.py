"""Rows appended beside an experiment's row while it runs: its log rows (and CodeCarbon's
emissions row). Each write is fenced by the claim like results are, so a worker declared
lost cannot add rows to a newer attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .schema import CODECARBON_COLUMNS, local_stamp

if TYPE_CHECKING:
    from .sql import SqlStore

Cursor = Any


def write_logs(store: SqlStore, token: str, row_id: int, logs: Mapping[str, Mapping[str, Any]]) -> bool:
    """One row per log table, all stamped with one time (the server's, or for PyExperimenter's
    tables the worker's local time to the second, as it stamped them)."""
    rows: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
    for table, values in logs.items():
        columns = store.schema.logtables.get(table)
        if columns is None:
            raise KeyError(table)
        for col in values:
            if col not in columns:
                raise KeyError(f"{table}.{col}")
        parts = {"target": store.schema.logtable(table), "log_columns": tuple(values), "more_marks": len(values)}
        rows.append((parts, tuple(columns[c].to_db(v) for c, v in values.items())))

    def body(cur: Cursor) -> bool:
        # Lock the row while it still carries our token: no sweep can requeue it before
        # this transaction ends, so the log rows belong to a live attempt, all or none.
        locked = store._run(cur, "write_logs_lock", (row_id, token)).fetchone()
        if locked is None:
            return False
        stamp = local_stamp() if store.schema.local_timestamps else locked[1]
        for parts, args in rows:
            store._run(cur, "write_log", (row_id, stamp, *args), **parts)
        return True

    return store._transaction(body)


def write_codecarbon(store: SqlStore, token: str, row_id: int, values: Mapping[str, Any]) -> bool:
    """One INSERT ... SELECT from the experiment row under its fence: nothing is added
    unless the row still runs under this claim. Missing or empty values are NULL."""
    if not store.schema.codecarbon:
        raise KeyError(store.schema.codecarbon_table)
    row = [_value(values.get(c.name)) for c in CODECARBON_COLUMNS]
    return store._transaction(lambda cur: store._run(cur, "write_codecarbon", (*row, row_id, token)).rowcount == 1)


def _value(value: Any) -> Any:
    """Codecarbon leaves fields it cannot measure as "" (PyExperimenter stored NULL)."""
    return None if value == "" else value
