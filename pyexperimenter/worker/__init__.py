"""Workers: the loop that claims and runs rows, and the ways a worker process starts.

`loop` is the worker itself; `node` the one entry point of a worker process (SLURM tasks,
`--local` processes, forked local workers); `local` forks N of them; `heartbeat` and
`signals` are the worker's two ways of talking to the outside while an experiment runs.
"""

from __future__ import annotations

from .function import ExperimentFunction, load_function
from .heartbeat import Heartbeat
from .local import run_workers
from .loop import Worker, WorkerInterrupted, WorkerStats
from .signals import STOP_SIGNALS

__all__ = [
    "STOP_SIGNALS",
    "ExperimentFunction",
    "Heartbeat",
    "Worker",
    "WorkerInterrupted",
    "WorkerStats",
    "load_function",
    "run_workers",
]
