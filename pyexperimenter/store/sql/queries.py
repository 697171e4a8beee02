"""Every statement the stores send, each named once with a one-line purpose: the loader of
store/sql/queries.sql and the fragments its statements share.

A statement is written with `?` placeholders and symbolic pieces in braces: the tables
(`{table}`, `{attempts}`), the dialect's (`{now}`, `{ago}`, `{skip_locked}`, ...; see
store/sql/dialect.py) and the shared fragments below, so that the fencing predicate and the
requeue-or-error rule exist exactly once. store/sql/statements.py renders them for one store
when the store is made. A block marked `(piece)` is no statement but a part one statement
repeats (MariaDB's minute counts, one range per minute).

Fencing: every claim stamps its rows with a fresh token (`pyexp_token`), and every write for an
attempt is fenced by `{fenced}`, so a worker that was declared lost (its rows requeued, the
token cleared, maybe re-claimed under a new token) cannot touch a newer attempt.
Transitions made by the owner keep the token, transitions made by others clear it: after
a lost COMMIT, "my token, no longer running" proves that my own write landed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

# The counters' pieces (store/engine/counters.py), as `{error_kind:OLD}` or `{finished:NEW}` of a
# trigger's row: the kind an error counts under ('u': written before error summaries);
# whether the row has finished (it then counts in its end date's minute); whether its status
# is counted (not the open and running rows, whose claims and requeues are the hot path);
# whether an attempt has ended (is counted).
ERROR_KIND = "CASE WHEN {row}.pyexp_error_summary IS NULL THEN 'u' ELSE 'e' END"
FINISHED = "{row}.status IN ('done', 'error') AND {row}.end_date IS NOT NULL"
COUNTED = "{row}.status NOT IN ('created', 'running')"
ENDED = "COALESCE({row}.outcome, '') <> 'running'"

FRAGMENTS: dict[str, str] = {
    # Rows one claim still holds; takes the token.
    "held": "pyexp_token = ? AND status = 'running'",
    # One row of an attempt, for every write the attempt makes; takes the id, the token.
    "fenced": "ID = ? AND {held}",
    "fenced_in": "ID IN ({ids}) AND {held}",
    # A failed or lost attempt: back to the queue (after `retry_delay_seconds`) while
    # attempts are left, else `error`; takes max_attempts, max_attempts, delay, delay.
    "requeue_or_error": "status = CASE WHEN pyexp_attempts < ? THEN 'created' ELSE 'error' END, "
    "pyexp_available_at = CASE WHEN pyexp_attempts < ? AND ? > 0 THEN {later} ELSE NULL END",
    # A lost run: running, no heartbeat for `?` seconds by the server's clock. The engine
    # adds the restart guard (Session.lost_runs_possible) wherever this is used.
    "lost": "status = 'running' AND pyexp_heartbeat < {ago}",
    # Rows a claim may take.
    "open": "status = 'created' AND (pyexp_available_at IS NULL OR pyexp_available_at <= {now})",
    # What a claim writes; takes the token, worker, machine, experimenter name, batch job id.
    "take": "status = 'running', pyexp_token = ?, pyexp_worker = ?, machine = ?, name = ?, pyexp_job_id = ?, "
    "start_date = {now}, pyexp_heartbeat = {now}, end_date = NULL, pyexp_attempts = pyexp_attempts + 1",
}


TRIGGER_KINDS = ("upd", "del", "ains", "aupd", "adel", "sum")
"""The counter triggers of a table (`{trigger:<kind>}` in queries.sql), by kind."""


def trigger_name(table: str, kind: str, limit: int = 64) -> str:
    """`<table>__count_<kind>`, or, where that passes `limit` (MariaDB's 64 characters,
    PostgreSQL's 63), a name made from a hash of the table's (triggers are named per
    database, not per table: cut by the server, two tables' names could be one)."""
    name = f"{table}__count_{kind}"
    if len(name) <= limit:
        return name
    return f"pyexp_{hashlib.sha1(table.encode()).hexdigest()[:24]}__count_{kind}"


# The statements themselves, in blocks of `-- name [dialect] --`, `-- purpose`, statement:
# one file a reviewer reads from top to bottom.
_TEXT = (Path(__file__).parent / "queries.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Query:
    name: str
    purpose: str
    template: str
    only: str | None = None  # the one dialect that has this statement
    piece: bool = False  # a part of a statement, filled in per call (see Statements.minute_ranges)


_HEADER = re.compile(r"-- (\w+)(?: \[(\w+)\])?( \(piece\))? --")


def _load(text: str) -> list[Query]:
    """Blocks of `-- name [dialect] --`, `-- purpose`, then the statement's lines."""
    found = []
    for block in text.strip().split("\n\n"):
        header, purpose, *lines = block.strip().splitlines()
        m = _HEADER.fullmatch(header)
        if m is None or not purpose.startswith("-- ") or not lines:
            raise ValueError(f"malformed query block: {block[:80]!r}")
        found.append(Query(m.group(1), purpose[3:], " ".join(line.strip() for line in lines), m.group(2),
                           bool(m.group(3))))
    return found


QUERIES: tuple[Query, ...] = tuple(q for q in _load(_TEXT) if not q.piece)
PIECES: tuple[Query, ...] = tuple(q for q in _load(_TEXT) if q.piece)
