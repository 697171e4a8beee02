"""Reading: counts per status, whole tables, and the reports behind `pyexp status`.

Ages and staleness come from the server's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..sqltypes import is_identifier
from ..status import ALL_STATUSES
from . import counters
from .filters import NO_FILTER, Filter
from .schema import error_summary, is_date_column

if TYPE_CHECKING:
    from .dialect import Dialect
    from .sql import SqlStore

Cursor = Any

Params = Mapping[str, Any]

# report name -> (query, its arguments from the caller's parameters)
REPORTS: dict[str, tuple[str, Callable[[Params], tuple[Any, ...]]]] = {
    "running": ("report_running", lambda p: (float(p.get("stale_after_seconds", 120)),)),
    "outcomes": ("report_outcomes", lambda p: ()),
    "quarantined": ("report_quarantined", lambda p: ()),
    "finished_since": ("report_finished_since", lambda p: (float(p.get("seconds", 300)),)),
    "first_end": ("report_first_end", lambda p: ()),
    # the aggregates of `pyexp report` (pyexperimenter/report_data.py)
    "minutes": ("report_minutes", lambda p: (float(p["seconds"]),)),
    "host_outcomes": ("report_host_outcomes", lambda p: ()),
    "best": ("report_best", lambda p: (int(p.get("limit", 10)),)),
    "sample": ("report_sample", lambda p: (int(p.get("limit", 10)),)),
}

# report name -> its per-call parts (column names), validated by store/statements.py
REPORT_PARTS: dict[str, Callable[[Params], dict[str, Any]]] = {
    "best": lambda p: {"select": tuple(p["columns"]), "nonnull": p["by"], "order": (p["by"], bool(p["descending"]))},
    "sample": lambda p: {"select": tuple(p["columns"])},
}


def minute_ranges(dialect: Dialect, table: str, minutes: int) -> str:
    """Rows finished per minute ago over the last `minutes` (the oldest bound a parameter, in
    seconds), and as minute `minutes` all that finished before (or have no end date): the
    status view's done count is their sum less the errors, so the finished rows are counted
    once, in one statement (one clock), not again by status. MariaDB: one range count of
    ix_status_end per minute, glued by UNION ALL; grouping the last hour's 600,000 rows on a
    computed minute took twice as long (a temporary table). SQLite groups."""
    finished = f"FROM {table} WHERE status IN ('done', 'error')"
    if dialect.name != "mysql":
        return (f"SELECT CASE WHEN end_date >= {dialect.ago} THEN CAST({dialect.age_of('end_date')} / 60 AS INTEGER) "
                f"ELSE {int(minutes)} END AS minutes_ago, COUNT(*) AS n {finished} GROUP BY minutes_ago")
    pieces = []
    for k in range(max(int(minutes), 1)):
        oldest = dialect.ago if k == minutes - 1 else f"NOW(6) - INTERVAL {60 * (k + 1)} SECOND"
        newest = f" AND end_date < NOW(6) - INTERVAL {60 * k} SECOND" if k else ""
        pieces.append(f"SELECT {k} AS minutes_ago, COUNT(*) AS n {finished} AND end_date >= {oldest}{newest}")
    before = f"NOW(6) - INTERVAL {60 * max(int(minutes), 1)} SECOND"
    pieces.append(f"SELECT {int(minutes)}, COUNT(*) {finished} AND (end_date < {before} OR end_date IS NULL)")
    return " UNION ALL ".join(pieces)


def counts(store: SqlStore, cur: Cursor, stale_after_seconds: float | None, where: Filter) -> dict[str, int]:
    """Rows (matching `where`) per status, every status present; with a stale limit, also
    the lost runs."""
    out = dict.fromkeys(ALL_STATUSES, 0)
    for status, n in store._run(cur, "count_by_status", where.args, where_conditions=where.shape).fetchall():
        out[str(status)] = int(n)
    if stale_after_seconds is not None:
        lost = store._lost_runs_possible(cur, stale_after_seconds)
        args = (stale_after_seconds, *where.args)
        out["stale"] = int(store._run(cur, "count_lost", args, conditions=where.shape).fetchone()[0]) if lost else 0
    return out


def rows(store: SqlStore, table: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
    if table not in store._sql.tables:
        raise InputError(f"unknown table {table!r}")
    for col in where:
        if not is_identifier(col):
            raise InputError(f"unsafe column name {col!r}")
    args, columns = list(where.values()), tuple(where)

    def body(cur: Cursor) -> list[dict[str, Any]]:
        return store._fetch_dicts(store._run(cur, "read_rows", args, target=table, where=columns))

    return [decode_row(store, r) for r in store._transaction(body)]


EXAMPLE_GROUPS = 20  # groups whose first ids are looked up; the rest show their first id


def error_groups(store: SqlStore, examples: int = 5, where: Filter = NO_FILTER) -> list[dict[str, Any]]:
    """Rows in `error` per summary (the traceback's last line, stored with the error): one
    GROUP BY, then a few ids of the largest groups. Errors written before the summary column
    existed are summarised here, reading only those rows. `where`: of the matching rows only."""

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = store._run(cur, "report_error_groups", where.args, conditions=where.shape).fetchall()
        return _grouped_errors(store, cur, found, examples, where)

    return store._transaction(body)


def status_groups(store: SqlStore, params: Params) -> dict[str, Any]:
    """`pyexp status`'s counts of every status, its error groups, the lost runs, with
    `minutes` the finished rows per minute ago, and (off the counters) the attempts per
    outcome and the seconds into the current minute. Off the counters (store/counters.py)
    when the table has them and no `where` narrows the rows; else counted in the tables."""
    where: Filter = params.get("where", NO_FILTER)
    stale_after = params.get("stale_after_seconds")
    minutes = params.get("minutes")

    def body(cur: Cursor) -> dict[str, Any]:
        found = counters.read(store, cur, int(minutes)) if minutes is not None and not where else None
        out = _counted(store, cur, found, params) if found is not None else _scanned(store, cur, params)
        if stale_after is not None:
            lost = store._lost_runs_possible(cur, float(stale_after))
            args = (float(stale_after), *where.args)
            out["counts"]["stale"] = int(store._run(cur, "count_lost", args, conditions=where.shape).fetchone()[0]) \
                if lost else 0
        return out

    return store._transaction(body)


def _counted(store: SqlStore, cur: Cursor, found: dict[str, Any], params: Params) -> dict[str, Any]:
    """status_groups off the counters. Error groups need their first ids (ties are ordered by
    them): one index dive per group, which also gives its example ids; with more groups than
    are shown, the groups are counted in the table instead."""
    counts = {s: int(found["statuses"].get(s, 0)) for s in ALL_STATUSES}
    examples = int(params.get("examples", 5))
    errors = found["errors"]
    known: dict[str, list[int]] = {}
    if len(errors) > EXAMPLE_GROUPS:
        rows = store._run(cur, "report_error_groups", (), conditions=NO_FILTER.shape).fetchall()
    else:
        rows = []
        for summary, n in errors.items():
            if summary is not None:
                known[summary] = [int(r[0]) for r in store._run(cur, "report_error_examples", (summary, examples),
                                                                conditions=NO_FILTER.shape)]
            rows.append((summary, n, known[summary][0] if known.get(summary) else 0))
    return {"counts": counts, "errors": _grouped_errors(store, cur, rows, examples, NO_FILTER, known),
            "minutes": found["minutes"], "outcomes": found["outcomes"], "second": found["second"]}


def _scanned(store: SqlStore, cur: Cursor, params: Params) -> dict[str, Any]:
    """status_groups counted in the tables. Without `where`, `done` is not counted but taken
    from the minute counts (their sum less the errors), sparing a walk over the done rows: at
    a million rows 400,000 index entries of 1.8 million; rows finishing between the two
    statements may shift it by a few. Grouping by status and summary in one statement took
    longer than the two (a two-column GROUP BY per entry)."""
    where: Filter = params.get("where", NO_FILTER)
    minutes = params.get("minutes")
    derive_done = minutes is not None and not where
    statuses = tuple(s for s in ALL_STATUSES if s != "error" and not (derive_done and s == "done"))
    found_minutes = [] if minutes is None else store._fetch_dicts(
        store._run(cur, "report_minute_counts", (60.0 * int(minutes),), minute_ranges=int(minutes)))
    counts = dict.fromkeys(ALL_STATUSES, 0)
    for status, n in store._run(cur, "report_status_counts", (*statuses, *where.args), statuses=len(statuses),
                                conditions=where.shape).fetchall():
        counts[str(status)] = int(n)
    found = store._run(cur, "report_error_groups", where.args, conditions=where.shape).fetchall()
    counts["error"] = sum(int(n) for _, n, _ in found)
    by_minute = {int(r["minutes_ago"] or 0): int(r["n"]) for r in found_minutes}
    if derive_done:
        counts["done"] = max(sum(by_minute.values()) - counts["error"], 0)
    return {"counts": counts, "errors": _grouped_errors(store, cur, found, int(params.get("examples", 5)), where),
            "minutes": by_minute}


def _grouped_errors(store: SqlStore, cur: Cursor, found: Any, examples: int, where: Filter,
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
    if unsummarized:
        for row_id, error in store._run(cur, "report_unsummarized_errors", where.args, conditions=where.shape).fetchall():
            key = error_summary(error) or "(no message)"
            group = groups.setdefault(key, {"message": key, "count": 0, "first": int(row_id), "ids": []})
            group["count"] += 1
            group["first"] = min(group["first"], int(row_id))
            if len(group["ids"]) < examples:
                group["ids"].append(int(row_id))
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["first"]))  # ties: first error first
    for i, group in enumerate(ordered):
        ids = group.pop("ids")
        if known and group["message"] in known:
            ids += known[group["message"]]
        elif i < EXAMPLE_GROUPS:
            ids += [int(r[0]) for r in store._run(cur, "report_error_examples", (group["message"], *where.args, examples),
                                                  conditions=where.shape)]
        group["example_ids"] = sorted(set(ids) | {group.pop("first")})[:examples]
    return ordered


def report(store: SqlStore, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    if name == "error_groups":
        return error_groups(store, int(params.get("examples", 5)), params.get("where", NO_FILTER))
    if name == "status_groups":
        return [status_groups(store, params)]
    if name not in REPORTS:
        raise InputError(f"unknown report {name!r}")
    query, arguments = REPORTS[name]
    args = arguments(params)
    parts = REPORT_PARTS[name](params) if name in REPORT_PARTS else {}

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = store._fetch_dicts(store._run(cur, query, args, **parts))
        if name == "running":
            found.sort(key=lambda r: int(r["ID"]))  # sorted here: a few rows, and the index stays usable
            # The same lost runs as counts() and requeue_stale(): none right after a restart.
            possible = any(r["stale"] for r in found) and store._lost_runs_possible(cur, args[0])
            for r in found:
                r["stale"] = possible and bool(r["stale"])
        return found

    return [decode_row(store, r) for r in store._transaction(body)]


def decode_row(store: SqlStore, row: dict[str, Any]) -> dict[str, Any]:
    """Values as the config's types say; dates a driver hands back as text (SQLite) parsed,
    except PyExperimenter's `<result>_timestamp` text, which its users read as text."""
    local = store.schema.local_timestamps
    for name, value in row.items():
        t = store._column_types.get(name)
        if t is not None:
            row[name] = t.from_db(value)
        elif local and name.endswith("_timestamp") and name[: -len("_timestamp")] in store.schema.results:
            continue
        elif isinstance(value, str) and is_date_column(name):
            try:
                row[name] = datetime.fromisoformat(value)
            except ValueError:
                pass
    return row
