"""What one attempt used: wall time, CPU seconds, peak resident memory, GPU memory peak.

Without isolation the experiment runs in the worker's own process: its CPU seconds are the
process's (the heartbeat thread's few included) and its peak is the process's peak so far,
which an attempt can only raise (docs/recovery.md says so). Measuring must cost a no-op
attempt next to nothing (the issue's bar: 0.95x the throughput without it), so an attempt
reads the monotonic clock, and the CPU clock and `getrusage` only when it ran 1 ms or more
(`begin`, `end`); a shorter one is not measured at all (its columns stay NULL). With
`isolation: process` the child reports its own peak as it ends, and its CPU seconds are
those of the children reaped during the attempt, exact per attempt (`Meter`: a fork costs
milliseconds, two system calls do not show).

The GPU peak is read from PyTorch's allocator when the experiment has initialised CUDA
through it (the statistics are reset at each attempt's start); anything else leaves it
NULL rather than guessing from a per-device number other processes share.
"""

from __future__ import annotations

import resource
import sys
import time

from ..store import Usage

# ru_maxrss is in kilobytes on Linux, in bytes on macOS.
_RSS_UNIT = 1024 * 1024 if sys.platform == "darwin" else 1024


MB = 1024 * 1024
_getrusage, _SELF, _CHILDREN = resource.getrusage, resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN
_monotonic, _cpu, _modules = time.monotonic, time.process_time, sys.modules  # bound once: the hot path
PEAK_AFTER_SECONDS = 0.001  # a shorter attempt reads no clock but the monotonic one (see `end`)


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


Reading = tuple[float, float]
"""The process's CPU seconds and the wall clock when they were read."""
_usage = tuple.__new__  # a Usage without NamedTuple's Python-level __new__: 0.3 us less per attempt


def begin(previous: Reading | None) -> tuple[Reading, float]:
    """An attempt in the worker's own process starts: the reading it is measured from, and
    the wall clock. `previous` is the reading the batch's last attempt left. Reading the CPU
    clock is a system call (0.7-1.4 us here; the monotonic clock 0.15 us, `getrusage` 1.7
    us) and a no-op attempt costs the worker about 25 us in all, so it is read again only
    when the last reading is 1 ms old or more: a batch of no-op rows reads it about once per
    25 attempts, an attempt of 1 ms or more after a short one at most 1 ms before it starts."""
    if "torch" in _modules:
        gpu_reset()
    now = _monotonic()
    if previous is None or now - previous[1] >= PEAK_AFTER_SECONDS:
        return (_cpu(), now), now
    return previous, now


def end(started: tuple[Reading, float]) -> tuple[Usage | None, Reading]:
    """What the attempt used, and the reading the next attempt of the batch may start from.
    An attempt of under 1 ms is not measured (None: its usage columns stay NULL). Its wall
    and CPU seconds are figures nobody reads, its peak is the process peak of an attempt
    before it (touching 100 MB takes longer than 1 ms), and measuring and writing them cost
    a no-op 5-7% of its throughput. A longer one reads both clocks; its CPU seconds may
    include up to 1 ms of the worker's (and shorter attempts') CPU time from before it started."""
    before, wall_start = started
    now = _monotonic()
    wall = now - wall_start
    if wall < PEAK_AFTER_SECONDS:
        return None, before
    cpu = _cpu()
    peak = _getrusage(_SELF).ru_maxrss * _RSS_UNIT / MB
    gpu = gpu_peak_mb() if "torch" in _modules else None
    return _usage(Usage, (wall, cpu - before[0], peak, gpu)), (cpu, now)


class Meter:
    """An isolated attempt's measure (worker/isolation.py): made just before the child
    starts, `usage` once it is gone; the child sends its own peak as it ends."""

    __slots__ = ("child_peak_mb", "child_gpu_mb", "_wall", "_ru")

    def __init__(self) -> None:
        self.child_peak_mb: float | None = None  # what the child reported (worker/isolation.py)
        self.child_gpu_mb: float | None = None
        self._ru = _getrusage(_CHILDREN)
        self._wall = _monotonic()

    def usage(self) -> Usage:
        wall = _monotonic() - self._wall
        ru = _getrusage(_CHILDREN)
        peak = self.child_peak_mb
        if peak is None and ru.ru_maxrss > self._ru.ru_maxrss:  # killed: its peak is the children's new maximum
            peak = rss_mb(ru.ru_maxrss)
        start = self._ru
        cpu = ru.ru_utime - start.ru_utime + ru.ru_stime - start.ru_stime
        return Usage(wall, cpu, peak, self.child_gpu_mb)
