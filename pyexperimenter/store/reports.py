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
from .schema import is_date_column

if TYPE_CHECKING:
    from .sql import SqlStore

Cursor = Any

Params = Mapping[str, Any]

# report name -> (query, its arguments from the caller's parameters)
REPORTS: dict[str, tuple[str, Callable[[Params], tuple[Any, ...]]]] = {
    "running": ("report_running", lambda p: (float(p.get("stale_after_seconds", 120)),)),
    "errors": ("report_errors", lambda p: ()),
    "finished_since": ("report_finished_since", lambda p: (float(p.get("seconds", 300)),)),
    "first_end": ("report_first_end", lambda p: ()),
    # the aggregates of `pyexp report` (pyexperimenter/report_data.py)
    "minutes": ("report_minutes", lambda p: (float(p["seconds"]),)),
    "error_texts": ("report_error_texts", lambda p: (int(p.get("limit", 100)),)),
    "outcomes": ("report_outcomes", lambda p: ()),
    "moments": ("report_moments", lambda p: (int(p.get("limit", 1000)),)),
    "best": ("report_best", lambda p: (int(p.get("limit", 10)),)),
    "log_curve": ("report_log_curve", lambda p: (int(p.get("limit", 100000)),)),
}

# report name -> its per-call parts (column names, a log table), validated by store/statements.py
REPORT_PARTS: dict[str, Callable[[Params], dict[str, Any]]] = {
    "moments": lambda p: {"group": tuple(p["group"]), "moments": tuple(p["columns"])},
    "best": lambda p: {"select": tuple(p["columns"]), "nonnull": p["by"], "order": (p["by"], bool(p["descending"]))},
    "log_curve": lambda p: {"target": p["table"], "log_columns": tuple(p["columns"]), "moments": tuple(p["columns"])},
}


def counts(store: SqlStore, cur: Cursor, stale_after_seconds: float | None) -> dict[str, int]:
    """Rows per status, every status present; with a stale limit, also the lost runs."""
    out = dict.fromkeys(ALL_STATUSES, 0)
    for status, n in store._run(cur, "count_by_status").fetchall():
        out[str(status)] = int(n)
    if stale_after_seconds is not None:
        lost = store._lost_runs_possible(cur, stale_after_seconds)
        out["stale"] = int(store._run(cur, "count_lost", (stale_after_seconds,)).fetchone()[0]) if lost else 0
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


def report(store: SqlStore, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    if name not in REPORTS:
        raise InputError(f"unknown report {name!r}")
    query, arguments = REPORTS[name]
    args = arguments(params)
    parts = REPORT_PARTS[name](params) if name in REPORT_PARTS else {}

    def body(cur: Cursor) -> list[dict[str, Any]]:
        found = store._fetch_dicts(store._run(cur, query, args, **parts))
        if name == "running":
            # The same lost runs as counts() and requeue_stale(): none right after a restart.
            possible = any(r["stale"] for r in found) and store._lost_runs_possible(cur, args[0])
            for r in found:
                r["stale"] = possible and bool(r["stale"])
        return found

    return [decode_row(store, r) for r in store._transaction(body)]


def decode_row(store: SqlStore, row: dict[str, Any]) -> dict[str, Any]:
    """Values as the config's types say; dates a driver hands back as text (SQLite) parsed."""
    for name, value in row.items():
        t = store._column_types.get(name)
        if t is not None:
            row[name] = t.from_db(value)
        elif isinstance(value, str) and is_date_column(name):
            try:
                row[name] = datetime.fromisoformat(value)
            except ValueError:
                pass
    return row
