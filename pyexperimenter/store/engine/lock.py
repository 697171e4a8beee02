"""The store's lock: one connection shared by a worker's main and heartbeat threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StoreLock:
    """The store's re-entrant lock, shared by a worker's main and heartbeat threads, which
    also tells whether the calling thread is inside a store call.

    A stop signal must not interrupt a database call halfway (a half-read reply would
    desynchronise the connection), so the worker asks `held()` before interrupting the
    experiment and, if the main thread is inside the store, interrupts it from `on_leave`
    as soon as the call is over. The depth counter is raised before acquiring and lowered
    after releasing, so a signal handler never sees "not held" while the lock is held."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()
        self.on_leave: Callable[[], None] | None = None

    def held(self) -> bool:
        return bool(getattr(self._depth, "n", 0))

    def __enter__(self) -> StoreLock:
        self._depth.n = getattr(self._depth, "n", 0) + 1
        try:
            self._lock.acquire()
        except BaseException:
            self._depth.n -= 1
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        self._depth.n -= 1
        if self._depth.n == 0 and self.on_leave is not None:
            self.on_leave()

    def sleep(self, seconds: float) -> None:
        """A retry's back-off inside a call, with the connection idle (rolled back or
        dropped): the lock is let go meanwhile, so the heartbeat thread keeps beating
        through a deadlock storm or a server restart, and a stop signal may interrupt
        the experiment at once. Nested calls sleep holding the lock."""
        if getattr(self._depth, "n", 0) != 1:
            time.sleep(seconds)
            return
        self._lock.release()
        self._depth.n = 0
        try:
            time.sleep(seconds)
        finally:
            self._depth.n = 1  # first: a signal during the wait below is deferred again
            self._lock.acquire()
