"""The reports behind `pyexp status` and `pyexp report`: counts, error groups, running rows.

Ages and staleness come from the server's clock. Counts come off the counters the database
keeps (store/engine/counters.py) where it has them, else from index walks of the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...status import ALL_STATUSES
from ..types import NO_FILTER, Filter
from . import counters
from .reads import count_lost
from .session import Cursor, Session

EXAMPLE_GROUPS = 20  # groups whose first ids are looked up; the rest show their first id


def error_groups(session: Session, examples: int = 5, where: Filter = NO_FILTER) -> list[dict[str, Any]]:
    """Rows in `error` per summary (the traceback's last line, stored with the error): one
    GROUP BY, then a few ids of the largest groups. Errors written before the summary column
    existed are summarised here, reading only those rows. `where`: of the matching rows only."""

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = session.run(cur, "report_error_groups", where.args, conditions=where.shape).fetchall()
        return _grouped_errors(session, cur, found, examples, where)

    return session.transaction(body)


def status_groups(session: Session, stale_after_seconds: float | None, where: Filter, minutes: int | None,
                  examples: int) -> dict[str, Any]:
    """`pyexp status`'s counts of every status, its error groups, the lost runs, with
    `minutes` the finished rows per minute ago, and (off the counters) the attempts per
    outcome and the seconds into the current minute. Off the counters (store/engine/counters.py)
    when the table has them and no `where` narrows the rows; else counted in the tables."""

    def body(cur: Cursor) -> dict[str, Any]:
        found = counters.read(session, cur, int(minutes)) if minutes is not None and not where else None
        out = _counted(session, cur, found, examples) if found is not None else \
            scanned(session, cur, where, minutes, examples)
        if stale_after_seconds is not None:
            out["counts"]["stale"] = count_lost(session, cur, float(stale_after_seconds), where)
        return out

    return session.transaction(body)


def _counted(session: Session, cur: Cursor, found: dict[str, Any], examples: int) -> dict[str, Any]:
    """status_groups off the counters. Error groups need their first ids (ties are ordered by
    them): one index dive per group, which also gives its example ids; with more groups than
    are shown, the groups are counted in the table instead."""
    counts = {s: int(found["statuses"].get(s, 0)) for s in ALL_STATUSES}
    errors = found["errors"]
    known: dict[str, list[int]] = {}
    if len(errors) > EXAMPLE_GROUPS:
        rows = session.run(cur, "report_error_groups", (), conditions=NO_FILTER.shape).fetchall()
    else:
        rows = []
        for summary, n in errors.items():
            if summary is not None:
                known[summary] = [int(r[0]) for r in session.run(cur, "report_error_examples", (summary, examples),
                                                                 conditions=NO_FILTER.shape)]
            rows.append((summary, n, known[summary][0] if known.get(summary) else 0))
    return {"counts": counts, "errors": _grouped_errors(session, cur, rows, examples, NO_FILTER, known),
            "minutes": found["minutes"], "outcomes": found["outcomes"], "second": found["second"]}


def scanned(session: Session, cur: Cursor, where: Filter, minutes: int | None, examples: int) -> dict[str, Any]:
    """status_groups counted in the tables. Without `where`, `done` is not counted but taken
    from the minute counts (their sum less the errors), sparing a walk over the done rows: at
    a million rows 400,000 index entries of 1.8 million; rows finishing between the two
    statements may shift it by a few. Grouping by status and summary in one statement took
    longer than the two (a two-column GROUP BY per entry)."""
    derive_done = minutes is not None and not where
    statuses = tuple(s for s in ALL_STATUSES if s != "error" and not (derive_done and s == "done"))
    found_minutes = [] if minutes is None else session.fetch_dicts(
        session.run(cur, "report_minute_counts", (60.0 * int(minutes),), minute_ranges=int(minutes)))
    counts = dict.fromkeys(ALL_STATUSES, 0)
    for status, n in session.run(cur, "report_status_counts", (*statuses, *where.args), statuses=len(statuses),
                                 conditions=where.shape).fetchall():
        counts[str(status)] = int(n)
    found = session.run(cur, "report_error_groups", where.args, conditions=where.shape).fetchall()
    counts["error"] = sum(int(n) for _, n, _ in found)
    by_minute = {int(r["minutes_ago"] or 0): int(r["n"]) for r in found_minutes}
    if derive_done:
        counts["done"] = max(sum(by_minute.values()) - counts["error"], 0)
    return {"counts": counts, "errors": _grouped_errors(session, cur, found, examples, where), "minutes": by_minute}


def _grouped_errors(session: Session, cur: Cursor, found: Any, examples: int, where: Filter,
                    known: Mapping[str, list[int]] | None = None) -> list[dict[str, Any]]:
    """Error groups from (summary, count, first id) rows, with a few example ids each (those
    `known` already, or looked up for the largest groups)."""
    groups: dict[str, dict[str, Any]] = {}
    unsummarized = False
    for summary, n, first in found:
        if summary is None:
            unsummarized = True
        else:
            groups[str(summary)] = {"message": str(summary), "count": int(n), "first": int(first), "ids": []}
    if unsummarized:  # grouped in the database: 200,000 tracebacks never cross into Python
        counted: set[Any] = set()  # each database group's size comes with each of its first rows
        for summary, n, row_id in session.run(cur, "report_unsummarized_groups", (*where.args, examples),
                                              conditions=where.shape).fetchall():
            key = str(summary) if summary else "(no message)"
            group = groups.setdefault(key, {"message": key, "count": 0, "first": int(row_id), "ids": []})
            if summary not in counted:
                counted.add(summary)
                group["count"] += int(n)
            group["first"] = min(group["first"], int(row_id))
            group["ids"].append(int(row_id))
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["first"]))  # ties: first error first
    for i, group in enumerate(ordered):
        ids = group.pop("ids")
        if known and group["message"] in known:
            ids += known[group["message"]]
        elif i < EXAMPLE_GROUPS:
            ids += [int(r[0]) for r in session.run(cur, "report_error_examples",
                                                   (group["message"], *where.args, examples), conditions=where.shape)]
        group["example_ids"] = sorted(set(ids) | {group.pop("first")})[:examples]
    return ordered


def report(session: Session, query: str, args: Sequence[Any] = (), **parts: Any) -> list[dict[str, Any]]:
    """The decoded rows of one of the small read-only reports (`report_*` in queries.sql)."""
    found = session.transaction(lambda cur: session.fetch_dicts(session.run(cur, query, args, **parts)))
    return [session.decode_row(r) for r in found]


def peaks(session: Session, outcomes: Sequence[str]) -> dict[str, float]:
    """The highest peak memory per outcome, for the outcomes with one measured: a seek per
    outcome (`report_peak`), where a GROUP BY of the attempts would read them all."""

    def body(cur: Cursor) -> dict[str, float]:
        found = {o: session.run(cur, "report_peak", (o,)).fetchone()[0] for o in outcomes}
        return {o: float(v) for o, v in found.items() if v is not None}

    return session.transaction(body)


def running(session: Session, stale_after_seconds: float) -> list[dict[str, Any]]:
    """The running rows, by ID, each flagged `stale` as the sweep would see it."""

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = session.fetch_dicts(session.run(cur, "report_running", (stale_after_seconds,)))
        found.sort(key=lambda r: int(r["ID"]))  # sorted here: a few rows, and the index stays usable
        # The same lost runs as counts() and requeue_stale(): none right after a restart.
        possible = any(r["stale"] for r in found) and session.lost_runs_possible(cur, stale_after_seconds)
        for r in found:
            r["stale"] = possible and bool(r["stale"])
        return found

    return [session.decode_row(r) for r in session.transaction(body)]
