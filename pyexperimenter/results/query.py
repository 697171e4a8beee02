"""`results()` answered by the database: filters become a WHERE clause, `--group-by` a GROUP BY,
so a million-row table is never read into pandas to show ten groups.

The answers are those of the pandas code in filtering.py on `get_table()` (tests compare
both): only `done` rows are aggregated; values are taken as numbers the way
`pandas.to_numeric(errors="coerce")` takes them; std is the sample standard deviation
(ddof=1); groups are sorted with missing keys last. What a database cannot aggregate itself
(a median; a standard deviation in SQLite; numbers written into a text column) is computed
here from one column's values, streamed group after group, so at most one group's values
of one column are in memory.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..store.schema import is_date_column
from ..store.select import NUMBER_KINDS, Selection, column_kinds
from .filtering import aggregations, picked_aggregates, size_column
from .records import Records, sort_rows

if TYPE_CHECKING:
    import pandas as pd

    from ..store import Store

Decoder = Callable[[Any], Any]


def listed(value: str | Sequence[str]) -> list[str]:
    """A single name is a list of one (`group_by="dataset"`), not a list of letters."""
    return [value] if isinstance(value, str) else list(value)


def selection(store: Store, status: Sequence[str] = (), where: Sequence[str] = ()) -> Selection:
    """`--status` and `--where` checked against the table's columns, ready to render."""
    kinds = column_kinds(store.schema, store.columns())
    return Selection(kinds).status(listed(status)).where(listed(where))


def decoder(store: Store, column: str) -> Decoder | None:
    """How `get_table()` decodes a column: the config's type, dates given as text parsed."""
    sql_type = store.schema.parameters.get(column) or store.schema.results.get(column)
    if sql_type is not None:
        return sql_type.from_db
    if is_date_column(column):
        return _date
    return _text


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def decode_rows(rows: Iterable[Sequence[Any]], decoders: Sequence[Decoder | None]) -> Iterator[list[Any]]:
    for row in rows:
        yield [v if f is None or v is None else f(v) for f, v in zip(decoders, row)]


def typed_chunks(store: Store, names: Sequence[str], kinds: Mapping[str, str],
                 chunks: Iterable[Sequence[Sequence[Any]]]) -> Iterable[Sequence[Sequence[Any]]]:
    """The store's rows as the writers take them: booleans (stored as 0/1) decoded, the rest
    as the driver returns it; chunks without booleans passed on untouched."""
    decoders: list[Decoder | None] = [decoder(store, c) if kinds[c] == "bool" else None for c in names]
    if all(f is None for f in decoders):
        return chunks
    return (list(decode_rows(chunk, decoders)) for chunk in chunks)


def select_frame(store: Store, status: Sequence[str] = (), where: Sequence[str] = (),
                 columns: Sequence[str] = ()) -> pd.DataFrame:
    """The rows and columns asked for, filtered in the database, as `get_table()` decodes them."""
    import pandas as pd

    sel = selection(store, status, where)
    names = sel.columns(listed(columns))
    rows = store.select_rows(names, sel.where_parts(), sel.args)
    decoded = list(decode_rows(rows, [decoder(store, c) for c in names]))
    return pd.DataFrame(decoded, columns=list(names)) if decoded else pd.DataFrame(columns=list(names))


def results_frame(store: Store, result_columns: Sequence[str], status: Sequence[str] = (), where: Sequence[str] = (),
                  columns: Sequence[str] = (), group_by: Sequence[str] = (),
                  agg: str | Sequence[str] = "mean") -> pd.DataFrame:
    """`select_results` of filtering.py, with the filtering and aggregating done in SQL."""
    if not listed(group_by):
        return select_frame(store, status, where, columns)
    return results_records(store, result_columns, status, where, columns, group_by, agg).frame()


def results_records(store: Store, result_columns: Sequence[str], status: Sequence[str] = (),
                    where: Sequence[str] = (), columns: Sequence[str] = (), group_by: Sequence[str] = (),
                    agg: str | Sequence[str] = "mean") -> Records:
    """`results_frame` with `group_by`, as plain rows: no pandas is imported."""
    group_by = listed(group_by)
    if not group_by:
        raise InputError("results as records need --group-by COL")
    sel = selection(store, status, where)
    size = size_column(sel.kinds)
    records = aggregate_records(store, sel, group_by, result_columns, aggregations(agg))
    return records.pick(picked_aggregates(records.columns, group_by, size, listed(columns))) if columns else records


def aggregate_records(store: Store, sel: Selection, group_by: Sequence[str], result_columns: Sequence[str],
                      names: Sequence[str]) -> Records:
    """One row per group: its keys, its size, then each result column's aggregates; sorted by
    the keys, missing keys last."""
    group_by = [sel.known(c, "--group-by") for c in dict.fromkeys(group_by)]
    size = size_column(sel.kinds)
    values = [c for c in result_columns if c in sel.kinds and c not in group_by]
    out_values = values if len(names) == 1 else [f"{c}_{a}" for c in values for a in names]
    groups = tuple((c, sel.kinds[c]) for c in group_by)
    shapes = sel.where_parts(("in", "status", 1))  # only finished rows are aggregated
    args = [*sel.args, "done"]
    plan, streamed, texts = _plan(sel.kinds, values, names, store.aggregates_in_sql())
    key_decoders = [decoder(store, c) for c in group_by]
    answers: dict[tuple[Any, ...], dict[str, Any]] = {}
    with_numbers: set[str] = set()
    for row in store.select_groups(groups, plan, shapes, args):
        key = tuple(_decoded(key_decoders, row[: len(groups)]))
        found = answers[key] = {size: int(row[len(groups)])}
        for (a, c), v in zip(plan, row[len(groups) + 1 :]):
            if a == "numbers":
                with_numbers.update([c] if v else [])
            else:
                found[f"{c}\0{a}"] = _plain(v)
    for c in texts:
        if c in with_numbers:
            streamed[c] = list(names)
        else:  # nothing reads as a number: what pandas gives for an all-NaN column
            for found in answers.values():
                found.update({f"{c}\0{a}": 0 if a == "count" else math.nan for a in names})
    for c, funcs in streamed.items():
        rows = (r for chunk in store.stream_group_values(groups, c, shapes, args) for r in chunk)
        convert = decoder(store, c)
        for key, numbers in _groups(rows, key_decoders, convert):
            answers.setdefault(key, {size: len(numbers)}).update({f"{c}\0{a}": _compute(a, numbers) for a in funcs})
    records = [[*key, found[size], *(found[f"{c}\0{a}"] for c in values for a in names)] for key, found in answers.items()]
    return Records([*group_by, size, *out_values], sort_rows(records, len(group_by)))


def _plan(kinds: Mapping[str, str], values: Sequence[str], names: Sequence[str],
          in_sql: frozenset[str]) -> tuple[list[tuple[str, str]], dict[str, list[str]], list[str]]:
    """What the one GROUP BY computes, as (function, column); the columns whose functions are
    computed here from their streamed values; and the columns that are no numbers (dates, text),
    aggregated only if the GROUP BY finds a text in them that reads as one."""
    plan: list[tuple[str, str]] = []
    streamed: dict[str, list[str]] = {}
    texts: list[str] = []
    for c in values:
        kind = kinds[c]
        if kind in NUMBER_KINDS or kind == "bool":
            plan += [(a, c) for a in names if a in in_sql]
            if any(a not in in_sql for a in names):
                streamed[c] = [a for a in names if a not in in_sql]
        else:  # dates read as NaN in pandas; texts may hold numbers
            plan += [("numbers", c)] if kind in ("str", "json") else []
            texts.append(c)
    return plan, streamed, texts


def _decoded(decoders: Sequence[Decoder | None], values: Sequence[Any]) -> list[Any]:
    return [v if f is None or v is None else f(v) for f, v in zip(decoders, values)]


def _plain(value: Any) -> Any:
    """SQL answers as pandas gives them: DECIMAL aggregates as floats, missing as NaN."""
    if value is None:
        return math.nan
    return float(value) if isinstance(value, Decimal) else value


def _groups(rows: Iterable[Sequence[Any]], key_decoders: Sequence[Decoder | None],
            convert: Decoder | None) -> Iterator[tuple[tuple[Any, ...], list[float]]]:
    """(group key, the group's values as numbers), one group at a time from rows sorted by group."""
    width = len(key_decoders)
    current: tuple[Any, ...] | None = None
    raw: tuple[Any, ...] | None = None
    numbers: list[float] = []
    for row in rows:
        if raw is None or tuple(row[:width]) != raw:
            if raw is not None and current is not None:
                yield current, numbers
            raw = tuple(row[:width])
            current, numbers = tuple(_decoded(key_decoders, raw)), []
        value = row[width]
        number = as_number(convert(value) if convert is not None and value is not None else value)
        if number is not None:
            numbers.append(number)
    if current is not None:
        yield current, numbers


def as_number(value: Any) -> float | None:
    """A value as `pandas.to_numeric(errors="coerce")` reads it; None where it reads NaN."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str) and "_" not in value:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def _compute(func: str, numbers: list[float]) -> Any:
    n = len(numbers)
    if func == "count":
        return n
    if not n:
        return math.nan
    if func == "mean":
        return math.fsum(numbers) / n
    if func == "median":
        return statistics.median(numbers)
    if func == "min":
        return min(numbers)
    if func == "max":
        return max(numbers)
    if func == "std":
        if n < 2:
            return math.nan
        mean = math.fsum(numbers) / n
        return math.sqrt(math.fsum((x - mean) ** 2 for x in numbers) / (n - 1))
    raise InputError(f"--agg: unknown aggregation {func!r}")
