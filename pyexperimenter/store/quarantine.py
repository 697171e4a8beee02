"""The store's side of quarantine (worker/quarantine.py decides): evidence, relabelling
the burnt attempts and giving them back, and whether a host is quarantined. A mixin of
SqlStore, kept apart so the shared store stays small."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Cursor = Any
ID_CHUNK = 500


class QuarantineQueries:
    _transaction: Callable[..., Any]
    _run: Callable[..., Any]

    def quarantine_evidence(self, worker: str, row_ids: Sequence[int]) -> tuple[int, bool, bool]:
        ids = list(row_ids)[-ID_CHUNK:] or [0]
        row = self._transaction(
            lambda cur: self._run(cur, "quarantine_evidence", (worker, *ids, worker, worker), ids=len(ids)).fetchone()
        )
        return int(row[0]), bool(row[1]), bool(row[2])

    def quarantine(self, failed: Sequence[tuple[str, int]]) -> int:
        def body(cur: Cursor) -> int:
            refunded = 0
            for token, row_id in failed:
                self._run(cur, "quarantine_attempt", (token, row_id))
                refunded += self._run(cur, "quarantine_refund", (row_id, token)).rowcount
            return refunded

        return int(self._transaction(body))

    def host_quarantined(self, machine: str, within_seconds: float) -> bool:
        return bool(self._transaction(
            lambda cur: self._run(cur, "host_quarantined", (machine, within_seconds)).fetchone()[0]
        ))
