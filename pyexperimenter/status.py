"""Row statuses and attempt outcomes, stored as plain strings so SQL, JSON and Python agree.

The names are listed here once: the store writes them, `pyexp status` counts them, and the
command line offers ALL_STATUSES as the choices of `--status`, so a status added to the enum
reaches every one of them without a second list to keep in step.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    # A str Enum compares equal to what is stored in the table and printed by the CLI.
    CREATED = "created"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    PAUSED = "paused"

    def __str__(self) -> str:
        return self.value


ALL_STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
"""Every row status, in the enum's order (the order `pyexp status` shows them in)."""


class Outcome(str, Enum):
    """How one attempt (one claim of a row) ended, as kept in the attempt history.

    Which of them spend one of the row's `max_attempts` is the store's rule: the
    experiment's own endings do (failed ... timeout, lost); what happened to the worker
    does not (released, time_limit, preempted, requeued, quarantined, reset). docs/recovery.md has
    the table."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # the experiment raised
    OOM = "oom"  # MemoryError under experiment.memory_limit_mb (isolation: process)
    EXITED = "exited"  # its process exited without returning (os._exit, sys.exit in C)
    KILLED = "killed"  # its process died of a signal (SIGSEGV, SIGKILL: maybe the OOM killer)
    TIMEOUT = "timeout"  # ran longer than experiment.timeout_seconds
    LOST = "lost"  # its worker stopped beating (killed, partitioned, frozen)
    RELEASED = "released"  # the worker was stopped (`pyexp cancel`, Ctrl-C, a signal); the error says by what
    TIME_LIMIT = "time_limit"  # SLURM's time limit: its USR2 (or PYEXP_DEADLINE) came at the allocation's end
    PREEMPTED = "preempted"  # SLURM's SIGTERM before the time limit: preemption (or a bare `scancel`)
    REQUEUED = "requeued"  # the experiment saved its state and raised Requeue (counted against max_requeues)
    QUARANTINED = "quarantined"  # its worker or host was quarantined: not the experiment's fault
    RESET = "reset"

    def __str__(self) -> str:
        return self.value


HANDED_BACK: frozenset[str] = frozenset(
    o.value for o in (Outcome.RELEASED, Outcome.TIME_LIMIT, Outcome.PREEMPTED, Outcome.REQUEUED)
)
"""Attempts whose row went back unrun by the worker's stop, not the experiment's fault:
shown as stopped, not failed."""
