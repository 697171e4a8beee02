"""Quarantine: a broken node must not drain the queue.

With automatic retries, a node whose experiments fail at once (a missing driver, a full
disk, a bad module) claims row after row and fails each in milliseconds: in a pull-based
queue it would push every row to `error` while healthy nodes are still on their first.
So a worker watches its own failures:

- after each fast failure (under FAST_FAILURE_SECONDS) it backs off, doubling from 0.1 s
  up to 5 s while other workers are around (0.5 s when it sees nobody else, who may only
  be starting): the row it failed goes to one of them first, and it cannot fail hundreds
  of rows in its first second;
- after `quarantine_after` fast failures in a row, if rows it failed have since been done
  by other workers (the same experiments succeed elsewhere), or after twice as many with
  no success of its own while others succeed (it fails on every row it claims), it stops
  claiming: its failed attempts are relabelled `quarantined` and the rows that nobody
  claimed since get their attempt back, so they are not counted against the experiments;
- its host is quarantined with it for an hour (for this table): other workers there stop
  claiming too. `pyexp status` lists quarantined workers and hosts.

A deterministic bug fails everywhere, so no worker sees its failures succeed elsewhere:
those rows still end in `error` after `max_attempts`, as without quarantine.
"""

from __future__ import annotations

import logging

from ..store import Claim, Store, WorkerIdentity

log = logging.getLogger("pyexperimenter")

FAST_FAILURE_SECONDS = 10.0
BACKOFF_START, BACKOFF_CAP, BACKOFF_ALONE_CAP = 0.05, 5.0, 0.5
HOST_QUARANTINE_SECONDS = 3600.0


class QuarantineWatch:
    def __init__(self, store: Store, identity: WorkerIdentity, after: int):
        self.store, self.identity, self.after = store, identity, after
        self.streak: list[tuple[str, int]] = []  # (token, row id) of consecutive fast failures
        self.succeeded_once = False
        self.reason: str | None = None  # set once quarantined: the worker stops claiming

    def succeeded(self) -> None:
        self.succeeded_once = True
        if self.streak:
            self.streak.clear()

    def failed(self, claim: Claim, took: float, error: str) -> float:
        """Note a failed attempt; returns how long to back off before the next claim."""
        if self.after <= 0:
            return 0.0
        if took >= FAST_FAILURE_SECONDS:
            self.streak.clear()
            return 0.0
        self.streak.append((claim.token, claim.id))
        n = len(self.streak)
        done_here, done_any, others_running = self.store.quarantine_evidence(
            self.identity.worker, [row_id for _, row_id in self.streak]
        )
        elsewhere = done_here > 0
        everywhere = n >= 2 * self.after and not self.succeeded_once and done_any
        if n >= self.after and (elsewhere or everywhere):
            self._quarantine(n, done_here, error)
            return 0.0
        # Alone, a short pause only: a row that fails everywhere still ends in `error` soon.
        return min(BACKOFF_CAP if (others_running or done_any) else BACKOFF_ALONE_CAP, BACKOFF_START * 2**n)

    def _quarantine(self, n: int, done_here: int, error: str) -> None:
        refunded = self.store.quarantine(self.streak)
        last = next((line.strip() for line in reversed(error.strip().splitlines()) if line.strip()), "?")
        why = (f"{done_here} of them were done by other workers" if done_here
               else "it failed every row it claimed while other workers succeed")
        self.reason = (
            f"quarantined worker {self.identity.worker} on host {self.identity.machine}: {n} experiments failed "
            f"within {FAST_FAILURE_SECONDS:g}s each, in a row, and {why}; last error: {last}; "
            f"{refunded} row(s) got their attempt back; not claiming any more"
        )
        self.streak.clear()
        log.warning("%s", self.reason)

    def host_is_quarantined(self) -> bool:
        if self.after <= 0 or self.reason is not None:
            return self.reason is not None
        if self.store.host_quarantined(self.identity.machine, HOST_QUARANTINE_SECONDS):
            self.reason = (
                f"host {self.identity.machine} is quarantined (a worker there failed fast while others succeeded, "
                f"within the last {HOST_QUARANTINE_SECONDS / 3600:g} h); not claiming"
            )
            log.warning("%s", self.reason)
        return self.reason is not None
