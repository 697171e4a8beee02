"""The store's side of captured output (worker/output.py captures it): an attempt's log
file and the last few KB it printed, kept in its attempts row.

Two writes, both fenced like every other write of an attempt: the heartbeat's, while the
experiment runs and only when it printed something new (so another machine sees a running
experiment's output), and the last one, staged by the worker just before the attempt's
final write and made in that write's own transaction (`write_staged`, called by
`queue.close_attempts`), so an attempt is never closed without it. The statement matches only
the claim's own attempt while it is still running: a worker whose row was requeued as lost
writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..types import Usage
from .session import Cursor, Session

Output = tuple[str | None, str]  # (the log file, if one was written; the tail)


class StagedOutput:
    """The output staged for the write that closes an attempt, shared by both stores: the
    staged attempts of one claim (one token) at a time, kept per instance."""

    _staged: tuple[str | None, dict[int, Output]] = (None, {})  # replaced, never changed in place

    def stage_output(self, token: str, row_id: int, log_file: str | None, tail: str) -> None:
        """Keep this attempt's output for the transaction that closes it: in memory only,
        so it cannot fail (the columns were made by `prepare_output` at the worker's start)."""
        if self._staged[0] != token:  # a new claim: the last one's are written or moot
            self._staged = (token, {})
        self._staged[1][row_id] = (log_file, tail)

    def staged_for(self, token: str) -> dict[int, Output]:
        return self._staged[1] if self._staged[0] == token else {}

    _usage: tuple[str | None, dict[int, Usage]] = (None, {})

    def stage_usage(self, token: str, row_id: int, usage: Usage) -> None:
        """Keep what this attempt used for the write that closes it, like its output: in
        memory, written in that write's own statement (queue.close_attempts)."""
        if self._usage[0] != token:
            self._usage = (token, {})
        self._usage[1][row_id] = usage

    def usage_for(self, token: str) -> dict[int, Usage]:
        return self._usage[1] if self._usage[0] == token else {}



def attempt_output(session: Session, cur: Cursor, token: str, row_id: int, log_file: str | None, tail: str) -> bool:
    """A running attempt's output so far; False when the attempt is no longer running."""
    return bool(session.run(cur, "attempt_output", (log_file, tail, token, row_id)).rowcount)


def write_staged(session: Session, cur: Cursor, token: str, ids: Sequence[int], staged: Mapping[int, Output]) -> None:
    for row_id in ids:
        if row_id in staged:
            session.run(cur, "attempt_output", (*staged[row_id], token, row_id))
