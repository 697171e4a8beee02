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
    """How one attempt (one claim of a row) ended, as kept in the attempt history."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    LOST = "lost"
    RELEASED = "released"
    RESET = "reset"

    def __str__(self) -> str:
        return self.value
