"""What one attempt used: wall time, CPU seconds, peak resident memory, GPU memory peak.

Measured from `getrusage`, one system call before and one after an attempt, so a no-op
experiment pays microseconds. Without isolation the experiment runs in the worker's own
process: its CPU seconds are the process's (the heartbeat thread's few included) and its
peak is the process's peak so far, which an attempt can only raise (docs/long-runs.md says
so). With `isolation: process` the child reports its own peak as it ends, and its CPU
seconds are those of the children reaped during the attempt, exact per attempt.

The GPU peak is read from PyTorch's allocator when the experiment has initialised CUDA
through it (the statistics are reset at each attempt's start); anything else leaves it
NULL rather than guessing from a per-device number other processes share.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

from ..store import Usage

# ru_maxrss is in kilobytes on Linux, in bytes on macOS.
_RSS_UNIT = 1024 * 1024 if sys.platform == "darwin" else 1024


MB = 1024 * 1024
_getrusage, _SELF, _CHILDREN = resource.getrusage, resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN
_monotonic, _cpu, _modules = time.monotonic, time.process_time, sys.modules  # bound once: the hot path
PEAK_AFTER_SECONDS = 0.001  # a shorter attempt keeps the process peak read last (see Meter)


def rss_mb(maxrss: float) -> float:
    return round(maxrss * _RSS_UNIT / MB, 1)


def gpu_reset() -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()
    except Exception:  # noqa: BLE001 - a measure, never the attempt's failure
        pass


def gpu_peak_mb() -> float | None:
    """PyTorch's peak of allocated CUDA memory on the current device, if CUDA is in use."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        return round(torch.cuda.max_memory_allocated() / (1024 * 1024), 1)
    except Exception:  # noqa: BLE001
        return None


class Meter:
    """One attempt's measure: made just before the experiment, `usage` just after it."""

    __slots__ = ("isolated", "snapshot", "child_peak_mb", "child_gpu_mb", "end", "_wall", "_ru")

    def __init__(self, isolated: bool, snapshot: str | None = None, previous: Any = None):
        """`previous`: the reading that ended the attempt just before in the same batch of
        this worker (its CPU seconds and the process peak), taken as this one's start. A
        system call is 2-4 us where the sandboxes of clusters intercept them, 2-4% of a
        no-op attempt each: without isolation an attempt costs one clock read of the
        process's CPU time, and `getrusage` for the peak only when it ran 1 ms or more
        (no attempt raises the peak much in less: touching 100 MB takes longer); the
        worker's own few microseconds between two attempts are charged to the second."""
        self.isolated, self.snapshot = isolated, snapshot
        self.child_peak_mb: float | None = None  # what an isolated child reported (worker/isolation.py)
        self.child_gpu_mb: float | None = None
        self.end: Any = None  # the reading `usage` made
        self._ru: Any  # a rusage with isolation, else (CPU seconds, the process peak or None)
        if isolated:
            self._ru = _getrusage(_CHILDREN)
        else:
            if "torch" in _modules:
                gpu_reset()
            self._ru = previous if previous is not None else (_cpu(), None)
        self._wall = _monotonic()

    def usage(self) -> Usage:
        wall = _monotonic() - self._wall
        if self.isolated:
            ru = _getrusage(_CHILDREN)
            peak = self.child_peak_mb
            if peak is None and ru.ru_maxrss > self._ru.ru_maxrss:  # killed: its peak is the children's new maximum
                peak = rss_mb(ru.ru_maxrss)
            gpu = self.child_gpu_mb
        else:
            cpu, peak = _cpu(), self._ru[1]
            if peak is None or wall >= PEAK_AFTER_SECONDS:
                peak = _getrusage(_SELF).ru_maxrss * _RSS_UNIT / MB
            self.end = (cpu, peak)
            gpu = gpu_peak_mb() if "torch" in _modules else None
            return Usage(wall, cpu - self._ru[0], peak, gpu, self.snapshot)
        start = self._ru
        return Usage(wall, ru.ru_utime - start.ru_utime + ru.ru_stime - start.ru_stime, peak, gpu, self.snapshot)
