"""Statements a user wrote themselves, sent as written.

PyExperimenter 1.4's connector let scripts run their own SQL on their own database
(`_get_experiments_with_condition("WHERE ...")`, `execute_queries`, the development branch's
`execute_custom_query`). Those users keep that power; this module is the one place it
happens, so that everything else in the store still sends only its named queries. The text
is not checked, rewritten or fenced: its placeholders are the driver's own (`?` on SQLite,
`%s` on MariaDB/MySQL) and its values are bound by the driver, never pasted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .session import Cursor, Session

UserResult = tuple[list[str], list[tuple[Any, ...]]]


def run_user_sql(session: Session, statements: Sequence[tuple[str, Sequence[Any] | None]]) -> list[UserResult]:
    """Run each (text, values) in one transaction; for each, its column names and rows (both
    empty for a statement that returns none). `values` None sends the text with no binding at
    all, so a literal `%` in it reaches MariaDB unchanged, as it did for 1.4.2."""

    def body(cur: Cursor) -> list[UserResult]:
        out: list[UserResult] = []
        for sql, values in statements:
            if values is None:
                cur.execute(sql)
            else:
                cur.execute(sql, tuple(values))
            if cur.description is None:
                out.append(([], []))
            else:
                out.append(([d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]))
        return out

    return session.transaction(body)


def user_statement(session: Session, kind: str, table: str, columns: Sequence[str] = (), condition: str = "") -> str:
    """The statement shapes 1.4.2's connector built from a user's names and text, with
    this driver's placeholder: `insert` (prepare_write_query), `select` and `delete` (every
    row of `table`, then the user's `condition`, e.g. "WHERE status = 'error'"). Names are pasted
    as the user wrote them, unquoted, as 1.4.2 did; the result goes to `run_user_sql`."""
    mark = "%s" if session.dialect.pyformat else "?"
    if kind == "insert":
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join([mark] * len(columns))})"
    if kind == "select":
        return f"SELECT * FROM {table} {condition}".rstrip()
    if kind == "delete":
        return f"DELETE FROM {table} {condition}".rstrip()
    raise ValueError(f"unknown statement kind {kind!r}")
