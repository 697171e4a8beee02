"""The named queries of store/sql/queries.sql, rendered for one store.

Tables, dialect pieces and fragments are filled in once, when the store is made. A
statement with per-call parts (an IN list's length, the result columns given, a log
table) is rendered on first use and kept, so running a query costs a dictionary lookup.
Each part is built by one small helper below, from validated identifiers only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from string import Formatter
from typing import Any

from ...errors import InputError
from ...sqltypes import is_identifier
from ..types import USAGE_COLUMNS, TableSchema
from . import conditions, ddl, selects
from .dialect import Dialect
from .queries import COUNTED, ENDED, ERROR_KIND, FINISHED, FRAGMENTS, PIECES, QUERIES, TRIGGER_KINDS, trigger_name
from .schema import (
    ATTEMPT_TOKEN_INDEX,
    CODECARBON_COLUMNS,
    FILL_COLUMNS,
    RANK_INDEX,
    SCHEMA_TABLE,
    STATUS_INDEX,
    filter_index,
)


def marks(n: int) -> str:
    return ",".join("?" * n)


# --- per-call parts, each built by one small helper from validated identifiers only


def _identifiers(names: Any) -> list[str]:
    names = list(names)
    for name in names:
        if not is_identifier(name):
            raise InputError(f"unsafe column name {name!r}")
    return names


def _target(st: Statements, table: str) -> str:
    if table not in st.tables:
        raise InputError(f"unknown table {table!r}")
    return st.dialect.q(table)


def _result_sets(st: Statements, names: tuple[str, ...], value: str = "{mark}") -> list[str]:
    """`col = value` per result column, each followed by `col_timestamp = now` if kept (a
    bound local stamp for PyExperimenter's tables, see store/engine/queue.py). `{mark}` in
    `value` is the column's bound value (typed where the database needs it)."""
    stamp = "?" if st.schema.local_timestamps else st.dialect.now
    sets = []
    for name in _identifiers(names):
        mark = st.dialect.value_mark(st.schema.results.get(name))
        sets.append(f"{st.dialect.q(name)} = {value.format(mark=mark)}")
        if st.schema.result_timestamps:
            sets.append(f"{st.dialect.q(name + '_timestamp')} = {stamp}")
    return sets


def _finish_sets(st: Statements, shape: tuple[tuple[str, ...], int]) -> str:
    """`, col = ?` for one row, `, col = CASE ID WHEN ? THEN ? ... END` for several."""
    names, rows = shape
    value = "{mark}" if rows == 1 else f"CASE ID{' WHEN ? THEN {mark}' * rows} END"
    return "".join(", " + s for s in _result_sets(st, names, value))


def _usage_sets(st: Statements, shape: tuple[tuple[int, int], ...]) -> str:
    """`, col = ?` per usage column (an index into USAGE_COLUMNS) with one value for the whole
    statement, `, col = CASE experiment_id WHEN ? THEN ? ... END` for one with a value per
    row (a batch's wall and CPU seconds: one statement closes a batch, as `finish_sets`
    finishes it). A column NULL for all its rows is left out (NULL already); one the same for
    all (the process peak read once in a batch of fast rows, the snapshot) costs one
    placeholder, not a CASE of a WHEN per row that the database tests for every row."""
    return "".join(f", {st.dialect.q(USAGE_COLUMNS[k])} = "
                   f"{'?' if rows == 1 else 'CASE experiment_id' + ' WHEN ? THEN ?' * rows + ' END'}"
                   for k, rows in shape)


def _where(st: Statements, columns: tuple[str, ...]) -> str:
    conds = [f"{st.dialect.q(c)} = ?" for c in _identifiers(columns)]
    return " WHERE " + " AND ".join(conds) if conds else ""


def _database(st: Statements, name: str) -> str:
    if not is_identifier(name):
        raise InputError(f"unsafe database name {name!r}")
    return st.dialect.q(name)


def _rename(st: Statements, names: tuple[str, str]) -> str:
    old, new = _identifiers(names)
    return f"{st.dialect.q(old)} TO {st.dialect.q(new)}"


def _trigger(st: Statements, kind: str) -> str:
    if kind not in TRIGGER_KINDS:
        raise InputError(f"unknown trigger {kind!r}")
    return st.dialect.q(trigger_name(st.schema.name, kind, st.dialect.max_name or 64))


def _index(st: Statements, index: tuple[str, str]) -> str:
    table, name = index
    return st.dialect.index_name(table, name)


PARTS: dict[str, Callable[[Statements, Any], str]] = {
    "ids": lambda st, n: marks(n),
    "statuses": lambda st, n: marks(n),
    "hashes": lambda st, n: marks(n),
    "more_marks": lambda st, n: ", ?" * n,
    "target": _target,
    "results": lambda st, names: ", ".join(_result_sets(st, names)),
    "and_results": lambda st, names: "".join(", " + s for s in _result_sets(st, names)),
    "finish_sets": _finish_sets,
    "usage_sets": _usage_sets,
    "log_columns": lambda st, names: "".join(", " + st.dialect.q(c) for c in _identifiers(names)),
    "where": _where,
    "database": _database,
    "columns": lambda st, table: ddl.table_columns(st.dialect, st.schema, table),
    "column": lambda st, name: ddl.added_column(st.dialect, st.schema, name),
    "internal_column": lambda st, name: ddl.internal_column(st.dialect, name),
    "attempt_column": lambda st, name: ddl.attempt_column(st.dialect, name),
    "index": _index,
    "rename": _rename,
    "trigger_kind": _trigger,
    # MariaDB's optimiser walks the claim index past the rows a `--where` skips, locking them
    # (measured: 61% of the unfiltered claim rate); the column's own index finds them at once.
    "where_hint": lambda st, column: st.dialect.hint(filter_index(_identifiers([column])[0]).name),
    "index_columns": lambda st, spec: st.dialect.index_columns(_identifiers(spec[0]), *spec[1:]),
    "index_where": lambda st, where: f" WHERE {where}" if where and st.dialect.partial_indexes else "",
    # a where.Filter's shapes (store/sql/conditions.py, the one renderer of `--where`)
    "conditions": lambda st, shape: conditions.render_filter(st.dialect, shape, " AND "),
    "where_conditions": lambda st, shape: conditions.render_filter(st.dialect, shape, " WHERE "),
    # store/select.py's selections: results read with filters and aggregates in the database
    "select_columns": lambda st, names: selects.render_columns(st.dialect, names),
    "select_where": lambda st, shapes: conditions.render_where(st.dialect, shapes),
    "group_columns": lambda st, groups: ", ".join(selects.group_expression(st.dialect, c, k) for c, k in groups),
    "group_keys": lambda st, groups: selects.group_keys(st.dialect, groups),
    "aggregates": lambda st, aggs: selects.render_aggregates(st.dialect, aggs),
    "value_column": lambda st, name: st.dialect.q(_identifiers([name])[0]),
    "csv_line": lambda st, columns: selects.render_csv_line(st.dialect, columns),
    "minute_ranges": lambda st, n: st.minute_ranges(int(n)),
    "select": lambda st, names: ", ".join(st.dialect.q(c) for c in _identifiers(names)),
    "nonnull": lambda st, name: f"{st.dialect.q(_identifiers([name])[0])} IS NOT NULL",
    "order": lambda st, by: f"{st.dialect.q(_identifiers([by[0]])[0])} {'DESC' if by[1] else 'ASC'}",
}


class _Spec:
    """A piece used as `{age:column}` or `{q:name}`: the part after the colon is its argument."""

    def __init__(self, render: Callable[[str], str]):
        self.render = render

    def __format__(self, spec: str) -> str:
        return self.render(spec)


class _KeepUnknown(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(text) if field is not None}


class Statements:
    """The queries of one store: its dialect and tables rendered in once."""

    def __init__(self, dialect: Dialect, schema: TableSchema):
        self.dialect: Dialect = dialect
        self.schema: TableSchema = schema
        # CodeCarbon's table whether the config tracks or not: `pyexp delete` drops one made before.
        self.tables = frozenset([schema.name, schema.attempts_table, *map(schema.logtable, schema.logtables),
                                 schema.codecarbon_table, schema.packages_table, schema.launches_table,
                                 schema.counts_table])
        q = dialect.q
        pieces = _KeepUnknown(
            FRAGMENTS,
            table=q(schema.name),
            attempts=q(schema.attempts_table),
            packages=q(schema.packages_table),
            launches=q(schema.launches_table),
            counts=q(schema.counts_table),
            registry=q(SCHEMA_TABLE),
            error_kind=_Spec(lambda row: ERROR_KIND.format(row=row)),
            finished=_Spec(lambda row: FINISHED.format(row=row)),
            counted=_Spec(lambda row: COUNTED.format(row=row)),
            ended=_Spec(lambda row: ENDED.format(row=row)),
            trigger=_Spec(lambda kind: q(trigger_name(schema.name, kind, dialect.max_name or 64))),
            minute=_Spec(dialect.minute_of),
            minute_now=dialect.minute_of(dialect.now),
            second_micros=dialect.second_micros,
            slot=dialect.slot,
            dual=dialect.dual,
            or_ignore=dialect.or_ignore,
            ignore_conflict=dialect.ignore_conflict,
            returning_id=dialect.returning_id,
            upsert_counts=dialect.upsert_counts,
            now=dialect.now,
            ago=dialect.ago,
            later=dialect.later,
            age=_Spec(dialect.age_of),
            summary_of=_Spec(dialect.summary_of),
            q=_Spec(q),
            skip_locked=dialect.skip_locked,
            for_update=dialect.for_update,
            table_suffix=dialect.table_suffix,
            status_hint=dialect.hint(STATUS_INDEX.name),
            rank_hint=dialect.hint(RANK_INDEX.name),
            token_hint=dialect.hint(ATTEMPT_TOKEN_INDEX.name),
            claim_columns=", ".join(q(c) for c in ["ID", "pyexp_attempts", *schema.parameters]),
            fill_columns=", ".join(q(c) for c in [*schema.parameters, *FILL_COLUMNS]),
            fill_marks=marks(len(schema.parameters) + len(FILL_COLUMNS)),
            codecarbon=q(schema.codecarbon_table),
            codecarbon_columns="".join(", " + q(c.name) for c in CODECARBON_COLUMNS),
            codecarbon_marks=", ?" * len(CODECARBON_COLUMNS),
            clear_results="".join(f", {q(c)} = NULL" for c in schema.result_columns()),
        )
        self._static: dict[str, str] = {}
        self._templates: dict[str, tuple[str, frozenset[str]]] = {}
        self.pieces: dict[str, str] = {}  # parts of statements, their per-call fields left in braces
        for query in (*QUERIES, *PIECES):
            if query.only not in (None, dialect.name):
                continue
            text = query.template
            while (expanded := text.format_map(pieces)) != text:  # pieces may hold pieces
                text = expanded
            if query.piece:
                self.pieces[query.name] = text
                continue
            parts = frozenset(_fields(text))
            if parts - PARTS.keys():
                raise ValueError(f"query {query.name}: unknown pieces {sorted(parts - PARTS.keys())}")
            if parts:
                self._templates[query.name] = (text, parts)
            else:
                self._static[query.name] = text
        self._rendered: dict[tuple[Any, ...], str] = {}

    def names(self) -> list[str]:
        return [*self._static, *self._templates]

    def minute_ranges(self, minutes: int) -> str:
        """report_minute_counts' part: the minute that holds all earlier rows (SQLite, which
        groups), or MariaDB's one range count per minute ago, the oldest bound a parameter."""
        if "minute_count" not in self.pieces:
            return str(int(minutes))
        now, one, pieces = self.dialect.now, self.pieces["minute_count"], []
        for k in range(max(int(minutes), 1)):
            oldest = self.dialect.ago if k == minutes - 1 else f"{now} - INTERVAL {60 * (k + 1)} SECOND"
            newest = f" AND end_date < {now} - INTERVAL {60 * k} SECOND" if k else ""
            pieces.append(one.format(k=k, oldest=oldest, newest=newest))
        before = f"{now} - INTERVAL {60 * max(int(minutes), 1)} SECOND"
        pieces.append(self.pieces["minutes_before"].format(k=int(minutes), before=before))
        return " UNION ALL ".join(pieces)

    def text(self, name: str, parts: Mapping[str, Any]) -> str:
        """The statement `name` with its per-call `parts` (counts, column names, tables)."""
        if not parts:
            return self._static[name]
        key = (name, *parts.items())
        sql = self._rendered.get(key)
        if sql is None:
            sql = self._render(name, parts)
            if len(self._rendered) > 4096:  # IN lists of many lengths: keep the cache bounded
                self._rendered.clear()
            self._rendered[key] = sql
        return sql

    def _render(self, name: str, parts: Mapping[str, Any]) -> str:
        template, wanted = self._templates[name]
        if set(parts) != wanted:
            raise TypeError(f"query {name} takes the parts {sorted(wanted)}, got {sorted(parts)}")
        return template.format(**{part: PARTS[part](self, value) for part, value in parts.items()})
