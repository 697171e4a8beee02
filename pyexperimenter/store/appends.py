"""Rows appended beside an experiment's row while it runs: its log rows (and CodeCarbon's
emissions row). Each write is fenced by the claim like results are, so a worker declared
lost cannot add rows to a newer attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .schema import local_stamp

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
