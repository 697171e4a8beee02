"""Resumable experiments (docs/long-runs.md): the state dict kept with a row, and a
requeue the experiment asks for, counted against its own cap.

A requeue hands the row back as a stop signal's release does (no attempt spent, the token's
fence kept), but its attempt is recorded as `requeued`, and those are what is counted: an
experiment that asks for the `max_requeues + 1`-th time ends in `error` with its reason
instead of running forever.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...status import Outcome
from ..sql.schema import error_summary
from ..types import Usage
from .output import Output
from .queue import close_attempts, requeue_args
from .session import Cursor, Session


def save_state(session: Session, token: str, row_id: int, text: str) -> bool:
    """False when the row went to another worker meanwhile (the fence matched nothing)."""
    return session.transaction(lambda cur: session.run(cur, "save_state", (text, row_id, token)).rowcount == 1)


def load_state(session: Session, row_id: int) -> str | None:
    def body(cur: Cursor) -> str | None:
        row = session.run(cur, "load_state", (row_id,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    return session.transaction(body)


def requeue(session: Session, token: str, row_id: int, reason: str, max_requeues: int,
            staged: Mapping[int, Output], usage: Mapping[int, Usage] | None = None) -> str:
    """`requeued` (back to created), `error` (the cap is reached) or `` (fenced out)."""

    def body(cur: Cursor) -> str:
        asked = int(session.run(cur, "requeue_count", (row_id,)).fetchone()[0])
        if asked >= max_requeues:
            error = f"requeued {asked} time(s), the limit (experiment.max_requeues={max_requeues}); last asked: {reason}"
            args = (*requeue_args(0, 0.0), error, error_summary(error), row_id, token)
            if session.run(cur, "fail", args).rowcount != 1:
                return ""
            close_attempts(session, cur, token, [row_id], Outcome.FAILED, error, staged, usage)
            return "error"
        if session.run(cur, "release", (row_id, token), ids=1).rowcount != 1:
            return ""
        close_attempts(session, cur, token, [row_id], Outcome.REQUEUED, reason, staged, usage)
        return "requeued"

    return session.transaction(body)
