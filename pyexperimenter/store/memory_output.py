"""MemoryStore's side of captured output, as store/output.py does it for SqlStore: the
tail staged for the write that closes an attempt, and the heartbeat's write while it runs."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from ..status import Outcome
from .output import StagedOutput

RUNNING = Outcome.RUNNING.value


class MemoryOutput(StagedOutput):
    _lock: threading.RLock
    _attempts: list[dict[str, Any]]

    def stage_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> None:
        with self._lock:
            super().stage_output(token, row_id, log_file, tail)

    def attempt_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> bool:
        with self._lock:
            return self._set_output(token, row_id, log_file, tail)

    def _set_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> bool:
        found = False
        for a in self._attempts:
            if a["claim_token"] == token and a["experiment_id"] == row_id and a["outcome"] == RUNNING:
                a.update(log_file=log_file, log_tail=tail)
                found = True
        return found

    def _apply_staged(self, token: str, ids: Iterable[int]) -> None:
        staged = self._staged_for(token)
        for row_id in ids:
            if row_id in staged:
                self._set_output(token, row_id, *staged[row_id])
