"""Row statuses, stored as plain strings so SQL, JSON and Python all agree."""

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
