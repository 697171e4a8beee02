"""Sweeping lost runs and resetting rows: the two operations that change many rows at once.

Both run inside one transaction of the store (`SqlStore._transaction`) and only through its
named queries; they live here so that store/sql.py stays the per-row work queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from ..status import ALL_STATUSES, Outcome
from .filters import Filter

if TYPE_CHECKING:
    from .sql import SqlStore

Cursor = Any
T = TypeVar("T")

ID_CHUNK = 500  # ids per statement: far below every driver's placeholder limit


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def requeue_stale(store: SqlStore, cur: Cursor, stale_after_seconds: float, max_attempts: int,
                  retry_delay_seconds: float) -> int:
    """Requeue (or fail) each lost run by a compare-and-set on its claim token, so that a row
    a concurrent sweep already handled is skipped rather than changed twice."""
    if not store._lost_runs_possible(cur, stale_after_seconds):
        return 0
    changed = 0
    for row in store._fetch_dicts(store._run(cur, "lost_candidates", (stale_after_seconds,))):
        reason = f"worker lost: no heartbeat since {row['heartbeat']} (worker {row['worker']})"
        args = (*store._requeue_args(max_attempts, retry_delay_seconds), reason, reason, row["ID"], row["claim_token"])
        if store._run(cur, "requeue_lost", args).rowcount == 1:
            changed += 1
            store._close_attempts(cur, row["claim_token"], [row["ID"]], Outcome.LOST, reason)
    return changed


def reset(store: SqlStore, cur: Cursor, statuses: Sequence[str] | None, ids: Sequence[int] | None,
          where: Filter) -> int:
    """Back to `created` with results, errors and log rows cleared; the ids, and the attempts
    as history, stay. Rows are picked first and then changed in chunks of ids, so a reset of
    a million rows never holds one statement with a million placeholders."""
    wanted = list(ALL_STATUSES) if not statuses or "all" in statuses else list(statuses)
    if ids is None:
        picked = store._run(cur, "reset_pick", [*wanted, *where.args], statuses=len(wanted), conditions=where.shape)
    else:
        picked = store._run(cur, "reset_pick_ids", [*wanted, *ids, *where.args], statuses=len(wanted),
                            ids=len(ids), conditions=where.shape)
    found = store._fetch_dicts(picked)
    for part in chunks([r["ID"] for r in found], ID_CHUNK):
        store._run(cur, "reset_rows", part, ids=len(part))
        store._run(cur, "reset_attempts", part, ids=len(part))
        for name in store.schema.logtables:
            store._run(cur, "reset_logs", part, target=store.schema.logtable(name), ids=len(part))
    return len(found)
