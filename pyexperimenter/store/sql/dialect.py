"""What differs between SQLite and MariaDB/MySQL in the SQL we write, in one object each.

Statements (store/sql/queries.sql) are written once, with `?` placeholders and symbolic pieces
(`{now}`, `{skip_locked}`, ...); a `Dialect` supplies those pieces, the identifier quoting,
the DDL types of the abstract column kinds of store/sql/schema.py and the shapes that
differ (index names, hints). Nothing here talks to a database.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ...sqltypes import SqlType
from .schema import INDEX_PREFIX_CHARS, Column


@functools.lru_cache(maxsize=4096)
def _pyformat(sql: str) -> str:
    """pymysql's paramstyle: `%s` for each `?`, and a literal `%` doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True, eq=False)
class Dialect:
    name: str  # "sqlite" or "mysql": a query marked for one database only is rendered for it alone
    quote: str  # identifier quote character
    pyformat: bool  # the driver wants `%s` placeholders instead of `?`
    now: str  # the server's clock as a DATETIME expression
    now_default: str  # the same, as a column default
    ago: str  # the server's clock minus `?` seconds
    later: str  # the server's clock plus `?` seconds
    age: str  # seconds from `{column}` to the server's now
    types: Mapping[str, str]  # abstract column kind (store/sql/schema.py) -> DDL type
    user_type: Callable[[SqlType], str]  # DDL of a column type the user named
    table_suffix: str  # after CREATE TABLE (...)
    skip_locked: str  # after a SELECT that picks rows to change, skipping rows others hold
    for_update: str  # the same, waiting for rows others hold
    index_hint: str  # after a table name, naming `{index}` for the optimiser
    claim_returning: bool  # a claim is one `UPDATE ... RETURNING` (claim_returning), not a pick then a mark
    partial_indexes: bool  # CREATE INDEX ... WHERE (store/sql/schema.py's Index.where)
    global_index_names: bool  # index names are per database, not per table (SQLite)
    quoted_index_columns: bool
    # `pyexp status`'s counters (store/engine/counters.py)
    minute: str  # whole minutes from a fixed origin to `{column}`, the same for every session
    second_micros: str  # microseconds into the server clock's current minute
    slot: str  # which of the counters' slots this connection adds to
    dual: str  # what a SELECT with a WHERE but no table needs
    or_ignore: str  # an INSERT that skips a row whose key exists
    upsert_counts: str  # after an INSERT into the counters: add `n` to an existing row
    prefix_indexes: bool = False  # a long text column is indexed by its first characters (Index.prefix)
    # An error's summary in SQL, as schema.error_summary computes it (`{text}` the error): the
    # last line that is not blank, trimmed, at most 255 characters; '' where the database
    # cannot (status then groups those errors itself, more slowly).
    last_line: str = ""

    def summary_of(self, text: str) -> str:
        return self.last_line.format(text=text) if self.last_line else "NULL"

    def q(self, identifier: str) -> str:
        """Quote an identifier that was checked against `sqltypes.IDENTIFIER`."""
        return f"{self.quote}{identifier}{self.quote}"

    def placeholders(self, sql: str) -> str:
        """The driver's form of a statement written with `?` (cached: no cost per call)."""
        return _pyformat(sql) if self.pyformat else sql

    def age_of(self, column: str) -> str:
        return self.age.format(column=column)

    def minute_of(self, column: str) -> str:
        return self.minute.format(column=column)

    def hint(self, index: str) -> str:
        return self.index_hint.format(index=index)

    def column(self, col: Column) -> str:
        """One column of CREATE TABLE: type, then NOT NULL, then the default."""
        text = f"{self.q(col.name)} {self.types[col.kind]}"
        if col.kind == "pk":
            return text  # the type says it all
        if col.not_null:
            text += " NOT NULL"
        if col.default is None:
            return text if col.not_null else text + " DEFAULT NULL"
        if col.default == "now":
            return f"{text} DEFAULT {self.now_default}"
        if col.default.isdigit():
            return f"{text} DEFAULT {col.default}"
        return f"{text} DEFAULT '{col.default}'"

    def user_column(self, name: str, sql_type: SqlType) -> str:
        return f"{self.q(name)} {self.user_type(sql_type)} DEFAULT NULL"

    def index_name(self, table: str, index: str) -> str:
        return self.q(f"{table}__{index}" if self.global_index_names else index)

    def index_columns(self, columns: Sequence[str], descending: Sequence[str] = (), prefix: Sequence[str] = ()) -> str:
        names = [self.q(c) if self.quoted_index_columns else c for c in columns]
        if self.prefix_indexes:
            names = [f"{n}({INDEX_PREFIX_CHARS})" if c in prefix else n for n, c in zip(names, columns)]
        return ", ".join(f"{n} DESC" if c in descending else n for n, c in zip(names, columns))


_COMMON_TYPES = {
    "status": "VARCHAR(16)",
    "text": "VARCHAR(255)",
    "long_text": "LONGTEXT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "token": "CHAR(32)",
    "hash": "CHAR(40)",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
}

_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

SQLITE = Dialect(
    name="sqlite",
    quote='"',
    pyformat=False,
    now=_SQLITE_NOW,
    now_default=f"({_SQLITE_NOW})",
    ago="strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ? || ' seconds')",
    later="strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || ? || ' seconds')",
    age="((julianday('now') - julianday({column})) * 86400.0)",
    types={**_COMMON_TYPES, "pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "datetime": "DATETIME"},
    user_type=SqlType.sqlite_ddl,
    table_suffix="",
    # One writer at a time (BEGIN IMMEDIATE): a transaction's reads are already exclusive.
    skip_locked="",
    for_update="",
    index_hint="",
    partial_indexes=True,
    claim_returning=True,  # under SQLite's single writer lock nothing can take the rows between
    global_index_names=True,
    quoted_index_columns=False,
    minute="(CAST(strftime('%s', {column}) AS INTEGER) / 60)",
    second_micros="CAST(strftime('%f', 'now') * 1000000 AS INTEGER)",
    slot="0",  # one writer at a time: nobody waits on a counter row
    dual="",
    or_ignore="INSERT OR IGNORE",
    upsert_counts="ON CONFLICT (kind, label, minute, slot) DO UPDATE SET n = n + excluded.n",
    last_line=(
        "CASE WHEN {text} IS NULL THEN NULL ELSE COALESCE(NULLIF(substr(ltrim(substr(rtrim({text}, _WS), "
        "length(rtrim(rtrim({text}, _WS), replace(rtrim({text}, _WS), char(10), ''))) + 1), _WS), 1, 255), ''), "
        "'(no message)') END"
    ).replace("_WS", "' ' || char(9, 10, 11, 12, 13)"),
)

MYSQL = Dialect(
    name="mysql",
    quote="`",
    pyformat=True,
    now="NOW(6)",
    now_default="CURRENT_TIMESTAMP(6)",
    ago="NOW(6) - INTERVAL CAST(? * 1000000 AS SIGNED) MICROSECOND",
    later="NOW(6) + INTERVAL CAST(? * 1000000 AS SIGNED) MICROSECOND",
    age="(TIMESTAMPDIFF(MICROSECOND, {column}, NOW(6)) / 1000000.0)",
    types={**_COMMON_TYPES, "pk": "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "datetime": "DATETIME(6)"},
    user_type=SqlType.mysql_ddl,
    table_suffix=" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    for_update=" FOR UPDATE",
    index_hint=" FORCE INDEX ({index})",
    partial_indexes=False,
    claim_returning=False,
    global_index_names=False,
    quoted_index_columns=True,
    minute="TIMESTAMPDIFF(MINUTE, '2000-01-01', {column})",  # DATETIME arithmetic: no time zone
    second_micros="(SECOND(NOW(6)) * 1000000 + MICROSECOND(NOW(6)))",
    # Workers' transactions hold the counter rows they change until they commit: 16 slots
    # per key, by connection, so that two claims rarely wait on the same row.
    slot="MOD(CONNECTION_ID(), 16)",
    dual=" FROM DUAL",
    or_ignore="INSERT IGNORE",
    upsert_counts="ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
    prefix_indexes=True,
    last_line=(
        "CASE WHEN {text} IS NULL THEN NULL ELSE COALESCE(NULLIF(LEFT(REGEXP_REPLACE(SUBSTRING_INDEX("
        "REGEXP_REPLACE({text}, '\\\\s+$', ''), '\\n', -1), '^\\\\s+', ''), 255), ''), '(no message)') END"
    ),
)
