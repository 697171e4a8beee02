"""Statements a user wrote themselves, sent as written.

PyExperimenter 1.4's connector let scripts run their own SQL on their own database
(`_get_experiments_with_condition("WHERE ...")`, `execute_queries`, the development branch's
`execute_custom_query`). Those users keep that power; this module is the one place it
happens, so that everything else in the store still sends only its named queries. The text
is not checked, rewritten or fenced: its placeholders are the driver's own (`?` on SQLite,
`%s` on MariaDB/MySQL) and its values are bound by the driver, never pasted in.
`user_connection` goes further, as 1.4.2's `db_connector.connect()` did: a driver connection
of the caller's own, for scripts that drive the cursor themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sql.user import user_text
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
    """store/sql/user.py's text, in this session's paramstyle."""
    return user_text(session.dialect.pyformat, kind, table, columns, condition)


def user_connection(session: Session) -> Any:
    """A new sqlite3, pymysql or psycopg connection, opened as the store opens its own (same
    file or server, credentials, SSH tunnel, session settings) but owned by the caller: what
    runs on it is the caller's and unfenced; each statement commits as it runs unless the
    caller opens a transaction (BEGIN)."""
    return session.user_connection()
