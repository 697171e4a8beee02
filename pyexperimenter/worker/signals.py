"""Stop signals: which ones, installing and restoring handlers, passing them on.

SIGTERM (scancel, preemption, `pyexp cancel`), SIGINT (Ctrl-C), SIGUSR2 (the SLURM time
limit, sent `signal_seconds` early by the sbatch script; Grid Engine's qdel or h_rt under
-notify) and SIGUSR1 (Grid Engine's soft limit s_rt, or the worker's own DeadlineAlarm) all
mean the same to a worker: a stop is requested. An experiment that looks at
`stop_requested` (or its checkpoint directory or state) is given
`experiment.stop_grace_seconds` to save and raise Requeue (`GraceTimer`); any other is
interrupted at once; either way the row goes back and the worker exits. Grid Engine signals
the whole process group and may do so twice, so what a handler does must bear repeating.
Handlers can only be installed from the main thread, so every helper here is a no-op
elsewhere (a worker run from a thread keeps the defaults).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

log = logging.getLogger("pyexperimenter")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2, signal.SIGUSR1)

Handler = Callable[[int, FrameType | None], Any]
Saved = dict[int, Any]  # signal number -> the handler it had before


def install(handler: Handler, signals: Iterable[int] = STOP_SIGNALS) -> Saved:
    """Set `handler` for the stop signals; returns what to `restore` afterwards."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in signals}


def restore(saved: Saved) -> None:
    for s, handler in saved.items():
        signal.signal(s, handler)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def signal_number(name: str) -> int:
    return int(signal.Signals[name])


class EarlyStop:
    """Records a stop signal that arrives before the worker installs its own handlers.

    A SLURM task can be cancelled while Python still imports; without this recorder the
    default action would kill it before it could say so in its log.
    """

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal_name(signum)

    @classmethod
    def install(cls) -> EarlyStop:
        early = cls()
        install(early, (signal.SIGUSR2, signal.SIGTERM, signal.SIGUSR1))
        return early


class Forwarder:
    """Passes a stop signal on to child processes that are still running.

    A signal sent to the parent alone (`kill <pid>`, a SLURM step signal) must still reach
    every forked worker, or they keep their rows until the stale limit. The signals seen
    are kept in `received`, so the parent can act on them once the children are gone.
    """

    def __init__(self, running_pids: Callable[[], Iterable[int]]):
        self.running_pids = running_pids
        self.received: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        for pid in self.running_pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


class GraceTimer:
    """The end of a stop's grace period. A signal handler cannot wait, so when the grace
    ends this signals the main thread again, and the handler, finding the grace over,
    interrupts the experiment. `cancel` before the handlers are restored: a late signal
    must not meet the default action (which ends the process)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started: float | None = None
        self.expired = False
        self._timer: threading.Timer | None = None

    def running(self) -> bool:
        """Whether the grace period is on: started on the first call, over after `seconds`."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
            if self.seconds > 0 and threading.current_thread() is threading.main_thread():
                self._timer = threading.Timer(self.seconds, self._expire, (threading.main_thread().ident,))
                self._timer.daemon = True
                self._timer.start()
        return not self.expired and now - self.started < self.seconds

    def _expire(self, main: int) -> None:
        self.expired = True
        signal.pthread_kill(main, signal.SIGUSR2)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class DeadlineAlarm:
    """A Grid Engine worker's own time-limit signal: SIGUSR1 to the main thread at its
    deadline (the job script's PYEXP_DEADLINE, `signal_seconds` before h_rt).

    Grid Engine warns only at h_rt itself, and a task killed by h_rt is never run again, so
    it could not requeue itself (worker/requeue.py). Its soft limit s_rt would warn earlier,
    but on a task that Grid Engine runs again it strikes as h_rt does. So the worker keeps
    its own time; to the worker the alarm is a stop like any other."""

    def __init__(self, deadline: float):
        self._timer = threading.Timer(max(0.0, deadline - time.time()), self._ring, (threading.main_thread().ident,))
        self._timer.daemon = True

    def __enter__(self) -> DeadlineAlarm:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @staticmethod
    def _ring(main: int) -> None:
        log.info("the allocation's deadline: stopping as at the time limit (SIGUSR1 to itself)")
        signal.pthread_kill(main, signal.SIGUSR1)
