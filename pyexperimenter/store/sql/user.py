"""PyExperimenter 1.4's statement shapes around a user's own names and SQL text.

Not queries.sql's named statements: these carry what the user wrote (a logtable's name and
columns, a `WHERE ...` condition) unquoted and unchecked, as 1.4.2 built them, and are run
only by store/engine/user_sql.py, never by the store's own work.
"""

from __future__ import annotations

from collections.abc import Sequence


def user_text(pyformat: bool, kind: str, table: str, columns: Sequence[str] = (), condition: str = "") -> str:
    """The statement shapes 1.4.2's connector built from a user's names and text, with
    this driver's placeholder: `insert` (prepare_write_query), `update` (`_prepare_update_query`:
    `columns` set, then the `condition`), `select` and `delete` (every row of `table`, then the
    user's `condition`, e.g. "WHERE status = 'error'"). Names are pasted
    as the user wrote them, unquoted, as 1.4.2 did; the result goes to `run_user_sql`."""
    mark = "%s" if pyformat else "?"
    if kind == "insert":
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join([mark] * len(columns))})"
    if kind == "update":
        return f"UPDATE {table} SET {', '.join(f'{c} = {mark}' for c in columns)} {condition}".rstrip()
    if kind == "select":
        return f"SELECT * FROM {table} {condition}".rstrip()
    if kind == "delete":
        return f"DELETE FROM {table} {condition}".rstrip()
    raise ValueError(f"unknown statement kind {kind!r}")
