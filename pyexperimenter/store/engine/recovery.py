"""Sweeping lost runs and resetting rows: the two operations that change many rows at once.

Both run in one transaction through named queries only; the sweep decides staleness on the
server's clock and changes each row by a compare-and-set on its claim token, so concurrent
sweeps change a row once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ...status import ALL_STATUSES, Outcome
from ..types import Filter
from .output import Output
from .queue import ID_CHUNK, chunks, close_attempts, requeue_args
from .session import Cursor, Session


def requeue_stale(session: Session, stale_after_seconds: float, max_attempts: int, retry_delay_seconds: float,
                  staged_for: Callable[[str], Mapping[int, Output]]) -> int:
    """Requeue (or fail) each lost run by a compare-and-set on its claim token, so that a row
    a concurrent sweep already handled is skipped rather than changed twice. `staged_for`:
    the output this store staged for a token (a worker may sweep its own lost run)."""

    def body(cur: Cursor) -> int:
        if not session.lost_runs_possible(cur, stale_after_seconds):
            return 0
        changed = 0
        for row in session.fetch_dicts(session.run(cur, "lost_candidates", (stale_after_seconds,))):
            reason = f"worker lost: no heartbeat since {row['heartbeat']} (worker {row['worker']})"
            args = (*requeue_args(max_attempts, retry_delay_seconds), reason, reason, row["ID"], row["token"])
            if session.run(cur, "requeue_lost", args).rowcount == 1:
                changed += 1
                close_attempts(session, cur, row["token"], [row["ID"]], Outcome.LOST, reason,
                               staged_for(row["token"]))
        return changed

    return session.transaction(body)


def reset(session: Session, statuses: Sequence[str] | None, ids: Sequence[int] | None, where: Filter,
          picked: list[int] | None = None) -> int:
    """Back to `created` with results, errors and log rows cleared; the ids, and the attempts
    as history, stay. Rows are picked first and then changed in chunks of ids, so a reset of
    a million rows never holds one statement with a million placeholders."""
    if ids is not None and not ids:
        return 0
    wanted = list(ALL_STATUSES) if not statuses or "all" in statuses else list(statuses)
    run, schema = session.run, session.schema

    def body(cur: Cursor) -> int:
        if ids is None:
            rows = run(cur, "reset_pick", [*wanted, *where.args], statuses=len(wanted), conditions=where.shape)
        else:
            rows = run(cur, "reset_pick_ids", [*wanted, *ids, *where.args], statuses=len(wanted),
                         ids=len(ids), conditions=where.shape)
        found = session.fetch_dicts(rows)
        if picked is not None:  # a retried transaction picks again: the last pick is the one
            picked[:] = [int(r["ID"]) for r in found]
        for part in chunks([r["ID"] for r in found], ID_CHUNK):
            run(cur, "reset_rows", part, ids=len(part))
            run(cur, "reset_attempts", part, ids=len(part))
            for name in schema.logtables:
                run(cur, "reset_logs", part, target=schema.logtable(name), ids=len(part))
        return len(found)

    return session.transaction(body)
