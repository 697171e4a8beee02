"""What one attempt used: wall time, CPU seconds, peak resident memory, GPU memory peak.

Without isolation the experiment runs in the worker's own process: its CPU seconds are the
process's (the heartbeat thread's few included) and its peak is the process's peak so far,
which an attempt can only raise (docs/recovery.md says so). Measuring must cost a no-op
attempt next to nothing (the issue's bar: 0.95x the throughput without it), so an attempt
reads the monotonic clock, and the CPU clock and `getrusage` only when it ran 1 ms or more
(`begin`, `end`). With `isolation: process` the child reports its own peak as it ends, and
its CPU seconds are those of the children reaped during the attempt, exact per attempt
(`Meter`: a fork costs milliseconds, two system calls do not show).

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


Reading = tuple[float, "float | None", float]
"""The process's CPU seconds, its peak in MB (None: not read yet) and the wall clock when
the CPU clock was read."""
_usage = tuple.__new__  # a Usage without NamedTuple's Python-level __new__: 0.3 us less per attempt


def begin(previous: Reading | None) -> tuple[Reading, float]:
    """An attempt in the worker's own process starts: the reading it is measured from, and
    the wall clock. `previous` is the reading the batch's last attempt left. Reading the CPU
    clock is a system call (0.7-1.4 us here; the monotonic clock 0.15 us, `getrusage` 1.7
    us) and a no-op attempt costs the worker about 40 us in all, so it is read again only
    when the last reading is 1 ms old or more: a batch of no-op rows reads it about once per
    25 attempts, an attempt of 1 ms or more after a short one at most 1 ms before it starts."""
    if "torch" in _modules:
        gpu_reset()
    now = _monotonic()
    if previous is None or now - previous[2] >= PEAK_AFTER_SECONDS:
        return (_cpu(), None if previous is None else previous[1], now), now
    return previous, now


def end(started: tuple[Reading, float], snapshot: str | None) -> tuple[Usage, Reading]:
    """What the attempt used, and the reading the next attempt of the batch may start from.
    An attempt of under 1 ms reads neither clock: its wall and CPU seconds are NULL (figures
    nobody reads, which cost 5-7% of a no-op's throughput to measure and write) and its peak is
    the process peak read last (no attempt raises it much in less: touching 100 MB takes
    longer). A longer one reads both; its CPU seconds may include up to 1 ms of the worker's
    (and shorter attempts') CPU time from before it started."""
    (cpu_before, peak, read_at), wall_start = started
    now = _monotonic()
    wall = now - wall_start
    if wall >= PEAK_AFTER_SECONDS:
        cpu = _cpu()
        reading: Reading = (cpu, _getrusage(_SELF).ru_maxrss * _RSS_UNIT / MB, now)
        used: float | None = cpu - cpu_before
    else:
        if peak is None:
            peak = _getrusage(_SELF).ru_maxrss * _RSS_UNIT / MB
        reading, used = (cpu_before, peak, read_at), None
    gpu = gpu_peak_mb() if "torch" in _modules else None
    return _usage(Usage, (wall if used is not None else None, used, reading[1], gpu, snapshot)), reading


class Meter:
    """An isolated attempt's measure (worker/isolation.py): made just before the child
    starts, `usage` once it is gone; the child sends its own peak as it ends."""

    __slots__ = ("snapshot", "child_peak_mb", "child_gpu_mb", "_wall", "_ru")

    def __init__(self, snapshot: str | None = None):
        self.snapshot = snapshot
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
        return Usage(wall, cpu, peak, self.child_gpu_mb, self.snapshot)
