"""Reading results back: `--status`/`--where`/`--columns` filters and `--group-by` aggregates.

Pure DataFrame logic, no database: `Experimenter.results` hands in the table and the CLI
only parses flags, so the Python API and `pyexp results` filter and aggregate alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..status import ALL_STATUSES
from ..where import compile_where, parse

if TYPE_CHECKING:
    import pandas as pd

AGGREGATIONS = ("mean", "median", "std", "min", "max", "count")


def table_frame(rows: list[dict[str, Any]], keep_internal: bool = False) -> pd.DataFrame:
    """Rows as a DataFrame, without the bookkeeping a researcher never reads (claim tokens, ...)."""
    import pandas as pd

    from ..store.schema import INTERNAL_COLUMNS

    frame = pd.DataFrame(rows)
    if not keep_internal and not frame.empty:
        frame = frame.drop(columns=[c for c in INTERNAL_COLUMNS if c in frame.columns])
    return decimals_as_float(frame)


def decimals_as_float(frame: pd.DataFrame) -> pd.DataFrame:
    """DECIMAL/NUMERIC columns as float: drivers hand back `decimal.Decimal` (object dtype),
    which `groupby().mean(numeric_only=True)` silently drops. The database keeps exact values."""
    from decimal import Decimal

    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            present = series.dropna()
            if len(present) and all(isinstance(v, Decimal) for v in present):
                frame[column] = series.astype(float)
    return frame


def parse_condition(cond: str) -> tuple[str, str, str]:
    """`COL=VALUE` (also `!=`, `<`, `<=`, `>`, `>=`) -> (column, operator, value): where.parse."""
    return parse(cond)


def frame_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Each column's kind read from a frame, for frames no table describes: booleans, numbers
    (numeric dtypes, or objects holding numbers only), else text."""
    import pandas as pd

    kinds: dict[str, str] = {}
    for name in frame.columns:
        series = frame[name]
        present = series.dropna()
        if pd.api.types.is_bool_dtype(series) or (len(present) and present.map(lambda v: isinstance(v, bool)).all()):
            kinds[name] = "bool"
        elif pd.api.types.is_numeric_dtype(series) or (len(present) and present.map(
                lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()):
            kinds[name] = "float"
        else:
            kinds[name] = "str"
    return kinds


def filter_frame(
    frame: pd.DataFrame,
    statuses: Sequence[str] = (),
    where: Sequence[str] = (),
    columns: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Apply `--status`, `--where COL=VALUE` and `--columns` (in that order). `--where` means
    what it means in the database (pyexperimenter/where.py), each column compared in its
    kind from `kinds` (the table's column types), else as read from the frame."""
    for s in statuses:
        if s not in ALL_STATUSES:
            raise InputError(f"--status: unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}")
    if statuses and "status" in frame.columns:
        frame = frame[frame["status"].isin(list(statuses))]
    if where:
        given = dict(kinds or {})
        known = {str(c): given.get(c) or kind for c, kind in frame_kinds(frame).items()}
        selected = compile_where(where, known)
        mask = [selected.matches(row) for row in frame[selected.columns].to_dict("records")]
        frame = frame[mask] if len(frame) else frame
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"--columns: unknown column {missing[0]!r}; expected one of {_column_list(frame)}")
        frame = frame[list(dict.fromkeys(columns))]
    return frame


def _column_list(frame: pd.DataFrame) -> str:
    return _listing(list(frame.columns))


def _listing(names: Sequence[str]) -> str:
    return ", ".join(map(str, names)) if len(names) else "(the table is empty)"


def aggregations(agg: str | Sequence[str]) -> list[str]:
    """`"mean"`, `["mean", "std"]` or `"mean,std"` -> a checked list."""
    items = [agg] if isinstance(agg, str) else list(agg)
    names = [a.strip() for item in items for a in item.split(",") if a.strip()]
    if not names:
        names = ["mean"]
    for a in names:
        if a not in AGGREGATIONS:
            raise InputError(f"--agg: expected one of {', '.join(AGGREGATIONS)}, got {a!r}")
    return list(dict.fromkeys(names))


def aggregate(
    frame: pd.DataFrame, group_by: Sequence[str], result_columns: Sequence[str], agg: str | Sequence[str] = "mean"
) -> pd.DataFrame:
    """Aggregate results over the parameters not grouped by (typically: over seeds).

    Only finished (`done`) rows count; the size of each group is column `n` (`n_rows` if
    the table has an `n` of its own). With one
    aggregation the result columns keep their names; with several they become
    `<column>_<aggregation>` (e.g. `accuracy_mean`, `accuracy_std`).
    """
    import pandas as pd

    names = aggregations(agg)
    size = size_column(frame.columns)
    missing = [c for c in group_by if c not in frame.columns]
    if missing:
        raise InputError(f"--group-by: unknown column {missing[0]!r}; expected one of {_column_list(frame)}")
    group_by = list(dict.fromkeys(group_by))
    done = frame[frame["status"] == "done"] if "status" in frame.columns else frame
    values = [c for c in result_columns if c in done.columns and c not in group_by]
    out_values = values if len(names) == 1 else [f"{c}_{a}" for c in values for a in names]
    if done.empty:
        return pd.DataFrame(columns=[*group_by, size, *out_values])
    numeric = done[values].apply(pd.to_numeric, errors="coerce")
    for col in group_by:
        numeric[col] = done[col]
    grouped = numeric.groupby(group_by, dropna=False, sort=True)
    if len(names) == 1:
        out = grouped[values].agg(names[0])
    else:
        out = grouped[values].agg(names)
        out.columns = [f"{c}_{a}" for c, a in out.columns]
        out = out[out_values]
    out.insert(0, size, grouped.size())
    return out.reset_index()


def size_column(columns: Iterable[str]) -> str:
    """The group-size column: `n`, unless the table has a column of that name already."""
    taken = set(columns)
    name = "n"
    while name in taken:
        name = f"{name}_rows" if name == "n" else f"_{name}"
    return name


def select_results(
    frame: pd.DataFrame,
    result_columns: Sequence[str],
    status: Sequence[str] = (),
    where: Sequence[str] = (),
    columns: Sequence[str] = (),
    group_by: Sequence[str] = (),
    agg: str | Sequence[str] = "mean",
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Filter, then aggregate (with `group_by`), then pick columns: `pyexp results` in one call.

    After aggregation `columns` may name a result column (`accuracy`) to keep all of its
    aggregates (`accuracy_mean`, `accuracy_std`); the group columns and `n` always stay.
    """
    status, where, columns, group_by = (_listed(v) for v in (status, where, columns, group_by))
    if not group_by:
        return filter_frame(frame, status, where, columns, kinds)
    size = size_column(frame.columns)
    frame = aggregate(filter_frame(frame, status, where, kinds=kinds), group_by, result_columns, agg)
    return pick_aggregates(frame, group_by, size, columns) if columns else frame


def pick_aggregates(frame: pd.DataFrame, group_by: Sequence[str], size: str, columns: Sequence[str]) -> pd.DataFrame:
    """`--columns` after aggregation: a result column's name keeps all of its aggregates."""
    return frame[picked_aggregates(list(frame.columns), group_by, size, columns)]


def picked_aggregates(available: Sequence[str], group_by: Sequence[str], size: str, columns: Sequence[str]) -> list[str]:
    """The columns `pick_aggregates` keeps, from the aggregated columns' names alone."""
    keep: list[str] = [*dict.fromkeys(group_by), size]
    for c in columns:
        found = [c] if c in available else [f for f in available if f.startswith(f"{c}_") and f[len(c) + 1 :] in AGGREGATIONS]
        if not found:
            raise InputError(f"--columns: unknown column {c!r}; expected one of {_listing(available)}")
        keep += [f for f in found if f not in keep]
    return keep


def _listed(value: str | Sequence[str]) -> list[str]:
    """A single name is a list of one (`group_by="dataset"`), not a list of letters."""
    return [value] if isinstance(value, str) else list(value)
