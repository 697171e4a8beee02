"""Reading: counts per status, whole tables, ids, and results selected, grouped and
aggregated in the database (store/select.py builds the selections; store/sql/selects.py
renders them), read at once or streamed on a connection of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ...errors import InputError
from ...sqltypes import is_identifier
from ...status import ALL_STATUSES
from ..types import Filter
from .session import Cursor, Session

Rows = list[tuple[Any, ...]]


def counts(session: Session, stale_after_seconds: float | None, where: Filter) -> dict[str, int]:
    """Rows (matching `where`) per status, every status present; with a stale limit, also
    the lost runs."""

    def body(cur: Cursor) -> dict[str, int]:
        out = dict.fromkeys(ALL_STATUSES, 0)
        for status, n in session.run(cur, "count_by_status", where.args, where_conditions=where.shape).fetchall():
            out[str(status)] = int(n)
        if stale_after_seconds is not None:
            out["stale"] = count_lost(session, cur, stale_after_seconds, where)
        return out

    return session.transaction(body)


def count_lost(session: Session, cur: Cursor, stale_after_seconds: float, where: Filter) -> int:
    """The lost runs (matching `where`): none right after a server restart."""
    if not session.lost_runs_possible(cur, stale_after_seconds):
        return 0
    args = (stale_after_seconds, *where.args)
    return int(session.run(cur, "count_lost", args, conditions=where.shape).fetchone()[0])


def rows(session: Session, table: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
    if table not in session.statements.tables:
        raise InputError(f"unknown table {table!r}")
    for col in where:
        if not is_identifier(col):
            raise InputError(f"unsafe column name {col!r}")
    args, columns = list(where.values()), tuple(where)

    def body(cur: Cursor) -> list[dict[str, Any]]:
        return session.fetch_dicts(session.run(cur, "read_rows", args, target=table, where=columns))

    return [session.decode_row(r) for r in session.transaction(body)]


def ids(session: Session, where: Filter) -> list[int]:
    def body(cur: Cursor) -> list[int]:
        return [int(r[0]) for r in session.run(cur, "matching_ids", where.args, where_conditions=where.shape).fetchall()]

    return session.transaction(body)


def columns(session: Session) -> list[str]:
    return session.transaction(session.table_columns) or []


def _read(session: Session, name: str, args: Sequence[Any], **parts: Any) -> Rows:
    return session.transaction(lambda cur: list(session.run(cur, name, args, **parts).fetchall()))


# --- results selected in the database: `shapes` render the WHERE, `args` are bound


def select_rows(session: Session, names: Sequence[str], shapes: Sequence[Any], args: Sequence[Any]) -> Rows:
    return _read(session, "select_rows", args, select_columns=tuple(names), select_where=tuple(shapes))


def stream_rows(session: Session, names: Sequence[str], shapes: Sequence[Any], args: Sequence[Any],
                chunk: int) -> Iterator[Rows]:
    return session.stream_query("select_rows", args, chunk, select_columns=tuple(names), select_where=tuple(shapes))


def stream_csv_lines(session: Session, names: Sequence[tuple[str, str]], shapes: Sequence[Any], args: Sequence[Any],
                     chunk: int) -> Iterator[Rows]:
    return session.stream_query("select_csv_lines", args, chunk, csv_line=tuple(names), select_where=tuple(shapes))


def count_rows(session: Session, shapes: Sequence[Any], args: Sequence[Any]) -> int:
    return int(_read(session, "select_count", args, select_where=tuple(shapes))[0][0])


def nth_id(session: Session, shapes: Sequence[Any], args: Sequence[Any], n: int) -> int | None:
    found = _read(session, "select_nth_id", [*args, n], select_where=tuple(shapes))
    return int(found[0][0]) if found else None


def select_groups(session: Session, groups: Sequence[tuple[str, str]], aggregates: Sequence[tuple[str, str]],
                  shapes: Sequence[Any], args: Sequence[Any]) -> Rows:
    return _read(session, "select_groups", args, group_columns=tuple(groups), group_keys=tuple(groups),
                 select_where=tuple(shapes), aggregates=tuple(aggregates))


def stream_group_values(session: Session, groups: Sequence[tuple[str, str]], column: str, shapes: Sequence[Any],
                        args: Sequence[Any], chunk: int) -> Iterator[Rows]:
    return session.stream_query("select_group_values", args, chunk, value_column=column, group_columns=tuple(groups),
                                group_keys=tuple(groups), select_where=tuple(shapes))


def log_curve(session: Session, logtable: str, names: Sequence[str], aggregates: Sequence[tuple[str, str]],
              shifts: Sequence[float], limit: int) -> Rows:
    return _read(session, "report_log_curve", (*shifts, limit), target=session.schema.logtable(logtable),
                 log_columns=tuple(names), aggregates=tuple(aggregates))
