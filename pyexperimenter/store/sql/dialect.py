"""What differs between SQLite, MariaDB/MySQL and PostgreSQL in the SQL we write, in one object each.

Statements (store/sql/queries.sql) are written once, with `?` placeholders and symbolic pieces
(`{now}`, `{skip_locked}`, ...); a `Dialect` supplies those pieces, the identifier quoting,
the DDL types of the abstract column kinds of store/sql/schema.py and the shapes that
differ (index names, hints). Nothing here talks to a database.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ...sqltypes import SqlType
from .schema import INDEX_PREFIX_CHARS, Column


@functools.lru_cache(maxsize=4096)
def _pyformat(sql: str) -> str:
    """pymysql's paramstyle: `%s` for each `?`, and a literal `%` doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


# The statements name the primary key `ID` bare, which MariaDB and SQLite match whatever the
# case; PostgreSQL folds a bare name to lower case, so there it is quoted (tables make it as
# "ID", the name PyExperimenter's tables use). A name already quoted, or part of a longer
# word (experiment_id, first_id), is left alone.
_BARE_ID = re.compile(r"(?<![\w\".'])ID(?![\w\"'])")
_SIZED_TEXT = re.compile(r"^(?:VAR)?CHAR\s*\(\s*\d+\s*\)$", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def quote_bare_id(sql: str) -> str:
    return _BARE_ID.sub('"ID"', sql)


@functools.lru_cache(maxsize=4096)
def _psycopg_format(sql: str) -> str:
    return _pyformat(quote_bare_id(sql))


@dataclass(frozen=True, eq=False)
class Dialect:
    name: str  # "sqlite", "mysql" or "postgres": a query marked for one database only is rendered for it alone
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
    ignore_conflict: str = ""  # after such an INSERT's VALUES (PostgreSQL says it there)
    returning_id: str = ""  # after an INSERT whose new ID is wanted, where the driver has no lastrowid
    double: str = "DOUBLE"  # CAST(... AS double): what an aggregate computes in
    # How a schema upgrade keeps others out (store/engine/migrations.py): "" the transaction's
    # writer lock (SQLite), "named" a lock released by hand (MariaDB, whose DDL commits on its
    # own), "transaction" a lock the transaction holds until it ends (PostgreSQL, whose DDL is
    # transactional: a failed step leaves no half-done upgrade and no lock behind).
    schema_lock: str = ""
    bare_id_quoted: bool = False  # PostgreSQL: the bare `ID` of the statements quoted (quote_bare_id)
    typed_values: bool = False  # values of result columns bound as CAST(? AS type): PostgreSQL types a CASE's bare `?` as text
    prefix_indexes: bool = False  # a long text column is indexed by its first characters (Index.prefix)
    # The longest identifier the server keeps whole (PostgreSQL cuts longer ones silently, to
    # 63 bytes); None: no limit (SQLite), which derived names then keep to MariaDB's 64.
    max_name: int | None = None
    # An error's summary in SQL, as schema.error_summary computes it (`{text}` the error): the
    # last line that is not blank, trimmed, at most 255 characters; '' where the database
    # cannot (status then groups those errors itself, more slowly).
    last_line: str = ""
    # A finish counts its own rows (store/engine/counters.py), which the counter triggers then
    # skip: they read a session variable the finish sets (MariaDB's per-row triggers cost a
    # no-op 12% of its throughput; PostgreSQL's run once per statement anyway).
    finish_counts: bool = False

    def summary_of(self, text: str) -> str:
        return self.last_line.format(text=text) if self.last_line else "NULL"

    def q(self, identifier: str) -> str:
        """Quote an identifier that was checked against `sqltypes.IDENTIFIER`."""
        return f"{self.quote}{identifier}{self.quote}"

    def placeholders(self, sql: str) -> str:
        """The driver's form of a statement written with `?` (cached: no cost per call)."""
        if self.bare_id_quoted:
            return _psycopg_format(sql)
        return _pyformat(sql) if self.pyformat else sql

    def value_mark(self, sql_type: SqlType | None) -> str:
        """A bound value written into a column of `sql_type` (None: a date stamp)."""
        if not self.typed_values:
            return "?"
        if sql_type is None:
            return f"CAST(? AS {self.types['datetime']})"
        # Never to a length: an explicit CAST to VARCHAR(n) or CHAR(n) cuts the text silently,
        # while storing an unbounded VARCHAR into the column refuses what does not fit (22001).
        return f"CAST(? AS {_SIZED_TEXT.sub('VARCHAR', self.user_type(sql_type))})"

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
        """`<table>__<index>` where names are per schema; past `max_name`, a name made from
        a hash of the table's (cut by the server, two tables' names could be one)."""
        if not self.global_index_names:
            return self.q(index)
        name = f"{table}__{index}"
        if self.max_name is not None and len(name) > self.max_name:
            name = f"pyexp_{hashlib.sha1(table.encode()).hexdigest()[:24]}__{index}"
        return self.q(name)

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
    max_name=64,
    quoted_index_columns=True,
    minute="TIMESTAMPDIFF(MINUTE, '2000-01-01', {column})",  # DATETIME arithmetic: no time zone
    second_micros="(SECOND(NOW(6)) * 1000000 + MICROSECOND(NOW(6)))",
    # Workers' transactions hold the counter rows they change until they commit: 16 slots
    # per key, by connection, so that two claims rarely wait on the same row.
    slot="MOD(CONNECTION_ID(), 16)",
    dual=" FROM DUAL",
    or_ignore="INSERT IGNORE",
    upsert_counts="ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
    schema_lock="named",
    prefix_indexes=True,
    finish_counts=True,
    last_line=(
        "CASE WHEN {text} IS NULL THEN NULL ELSE COALESCE(NULLIF(LEFT(REGEXP_REPLACE(SUBSTRING_INDEX("
        "REGEXP_REPLACE({text}, '\\\\s+$', ''), '\\n', -1), '^\\\\s+', ''), 255), ''), '(no message)') END"
    ),
)

# The server's clock, read when the statement arrives: now() and CURRENT_TIMESTAMP are the
# transaction's start, which would date a heartbeat or an end in a long transaction to its
# beginning. In UTC whatever the session's time zone, as a TIMESTAMP (no zone), like MariaDB's
# DATETIME: every connection, psql's included, reads and writes the same values.
_PG_NOW = "(statement_timestamp() AT TIME ZONE 'UTC')"
_PG_SECONDS = "CAST(? AS DOUBLE PRECISION) * INTERVAL '1 second'"

POSTGRES = Dialect(
    name="postgres",
    quote='"',
    pyformat=True,
    now=_PG_NOW,
    now_default=_PG_NOW,
    ago=f"({_PG_NOW} - {_PG_SECONDS})",
    later=f"({_PG_NOW} + {_PG_SECONDS})",
    age=f"CAST(EXTRACT(EPOCH FROM ({_PG_NOW} - {{column}})) AS DOUBLE PRECISION)",
    types={**_COMMON_TYPES, "pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "datetime": "TIMESTAMP(6)",
           "long_text": "TEXT", "double": "DOUBLE PRECISION"},
    user_type=SqlType.postgres_ddl,
    table_suffix="",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    for_update=" FOR UPDATE",
    index_hint="",
    partial_indexes=True,  # the planner takes a partial index when the query repeats its condition
    # One statement, one round trip: UPDATE ... WHERE ID IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING.
    claim_returning=True,
    global_index_names=True,  # index names are per schema
    max_name=63,
    quoted_index_columns=True,
    minute="CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 60) AS INTEGER)",  # a TIMESTAMP's epoch: no time zone
    second_micros=f"CAST(EXTRACT(MICROSECONDS FROM {_PG_NOW}) AS BIGINT)",
    # Row locks on the counters are held until commit, as on MariaDB: 16 slots by backend.
    slot="CAST(MOD(pg_backend_pid(), 16) AS SMALLINT)",
    dual="",
    or_ignore="INSERT",  # counts_mark has its own [postgres] text (ON CONFLICT DO NOTHING)
    upsert_counts="ON CONFLICT (kind, label, minute, slot) DO UPDATE SET n = {counts}.n + excluded.n",
    ignore_conflict=" ON CONFLICT DO NOTHING",
    returning_id=" RETURNING ID",
    double="DOUBLE PRECISION",
    schema_lock="transaction",
    bare_id_quoted=True,
    typed_values=True,
    # The last line that is not blank: `.` crosses newlines in PostgreSQL's regular expressions,
    # so a greedy `^.*\n` takes everything up to the last one (standard strings: no escapes).
    last_line=(
        "CASE WHEN {text} IS NULL THEN NULL ELSE COALESCE(NULLIF(LEFT(regexp_replace(regexp_replace(regexp_replace("
        "{text}, '\\s+$', ''), '^.*\\n', ''), '^\\s+', ''), 255), ''), '(no message)') END"
    ),
)
