"""The store's side of quarantine (worker/quarantine.py decides): evidence, relabelling
the burnt attempts and giving them back, and whether a host is quarantined."""

from __future__ import annotations

from collections.abc import Sequence

from .queue import ID_CHUNK
from .session import Cursor, Session


def evidence(session: Session, worker: str, row_ids: Sequence[int]) -> tuple[int, bool, bool]:
    ids = list(row_ids)[-ID_CHUNK:] or [0]
    row = session.transaction(
        lambda cur: session.run(cur, "quarantine_evidence", (worker, *ids, worker, worker), ids=len(ids)).fetchone()
    )
    return int(row[0]), bool(row[1]), bool(row[2])


def quarantine(session: Session, failed: Sequence[tuple[str, int]]) -> int:
    def body(cur: Cursor) -> int:
        refunded = 0
        for token, row_id in failed:
            session.run(cur, "quarantine_attempt", (token, row_id))
            refunded += session.run(cur, "quarantine_refund", (row_id, token)).rowcount
        return refunded

    return int(session.transaction(body))


def host_quarantined(session: Session, machine: str, within_seconds: float) -> bool:
    return bool(session.transaction(
        lambda cur: session.run(cur, "host_quarantined", (machine, within_seconds)).fetchone()[0]
    ))
