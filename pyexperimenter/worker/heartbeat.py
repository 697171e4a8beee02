"""The heartbeat thread: proof of life for the rows a worker holds.

It runs beside the experiment (which may hold the GIL-free C code of a library for hours)
and beats on the database server's clock, so staleness never depends on the worker's.
When the running experiment printed something since the last beat, the beat also stores
its output's tail and file with the attempt, so `pyexp logs` on another machine shows it.
"""

from __future__ import annotations

import logging
import threading

from ..store import Store
from . import output
from .output import Capture

log = logging.getLogger("pyexperimenter")


class Heartbeat(threading.Thread):
    """Beats for the worker's current token from a background thread, on the server clock."""

    def __init__(self, store: Store, interval: float):
        super().__init__(name="pyexp-heartbeat", daemon=True)
        self.store, self.interval = store, interval
        self.token: str | None = None
        self.closing: str | None = None  # the claim whose last writes are under way
        self.lost: set[str] = set()
        self.capture: tuple[str, int, Capture] | None = None  # (token, row, output) of the running isolated attempt
        self._reported: tuple[str, int, int, str | None] | None = None  # (token, row, bytes, file) last stored
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            token = self.token
            if token is None:
                continue
            try:
                if self.store.heartbeat(token) == 0 and token == self.token and token != self.closing:
                    self.lost.add(token)
                    log.warning("lost the rows of claim %s: they were requeued as lost runs", token[:8])
                else:
                    self._report_output()
            except Exception as e:  # keep beating: the next beat may get through
                log.warning("heartbeat failed: %s", e)

    def _report_output(self) -> None:
        running = self.capture
        if running is not None:  # an isolated attempt's
            token, row_id, capture = running
        else:  # an attempt in this process that printed: its capture knows whose it is
            found = output.running()
            attempt = found.belongs_to() if found is not None else None
            if found is None or attempt is None:
                return
            (token, row_id), capture = attempt, found
        written, log_file, tail = capture.snapshot()
        if written and self._reported != (token, row_id, written, log_file):  # new output, or its file just made
            self.store.attempt_output(token, row_id, log_file, tail)
            self._reported = (token, row_id, written, log_file)

    def stop(self) -> None:
        self._halt.set()
