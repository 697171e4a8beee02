"""What an experiment function writes (ResultProcessor), and how results are read back."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import FencedOut, InputError

if TYPE_CHECKING:
    import pandas as pd

    from .store.base import Claim, Store

log = logging.getLogger("pyexperimenter")


class InvalidResultError(ValueError):
    """The experiment wrote a result or log column the config does not declare."""


class ResultProcessor:
    """Handed to the experiment function; every write is fenced by the claim's token, so
    results of a worker that was declared lost never overwrite a newer attempt."""

    def __init__(self, store: Store, claim: Claim):
        self._store = store
        self._claim = claim

    @property
    def experiment_id(self) -> int:
        return self._claim.id

    @property
    def attempt(self) -> int:
        return self._claim.attempt

    def process_results(self, results: Mapping[str, Any]) -> None:
        """Write result columns now (they are visible to `pyexp results` at once)."""
        check_result_keys(self._store, results)
        if not self._store.write_results(self._claim.token, self._claim.id, dict(results)):
            raise FencedOut(f"experiment {self._claim.id} was handed to another worker; result not written")

    def process_logs(self, logs: Mapping[str, Mapping[str, Any]]) -> None:
        """Append one row per log table, e.g. `{"epochs": {"epoch": 3, "loss": 0.1}}`."""
        tables = self._store.schema.logtables
        for table, values in logs.items():
            if table not in tables:
                raise InvalidResultError(f"unknown logtable {table!r}; expected one of {sorted(tables)}")
            unknown = sorted(set(values) - set(tables[table]))
            if unknown:
                raise InvalidResultError(
                    f"unknown column {unknown[0]!r} in logtable {table!r}; expected one of {sorted(tables[table])}"
                )
        # Copies: the caller's dicts are theirs to reuse (PyExperimenter mutated them).
        if not self._store.write_logs(self._claim.token, self._claim.id, {t: dict(v) for t, v in logs.items()}):
            raise FencedOut(f"experiment {self._claim.id} was handed to another worker; log not written")


def check_result_keys(store: Store, results: Mapping[str, Any]) -> None:
    unknown = sorted(set(results) - set(store.schema.results))
    if unknown:
        raise InvalidResultError(
            f"unknown result column {unknown[0]!r}; expected one of {sorted(store.schema.results)} "
            f"(declare it under `results:` in the config)"
        )


# ----------------------------------------------------------------------------- reading back

AGGREGATIONS = ("mean", "median", "std", "min", "max", "count")
INTERNAL_COLUMNS = ("claim_token", "param_hash", "rank_key", "available_at")
_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|==|=|<|>)(.*)", re.DOTALL)
_NULLS = {"", "null", "none", "nan"}


def table_frame(rows: list[dict[str, Any]], keep_internal: bool = False) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)
    if not keep_internal and not frame.empty:
        frame = frame.drop(columns=[c for c in INTERNAL_COLUMNS if c in frame.columns])
    return frame


def parse_condition(cond: str) -> tuple[str, str, str]:
    """`COL=VALUE` (also `!=`, `<`, `<=`, `>`, `>=`) -> (column, operator, value)."""
    m = _CONDITION.match(cond)
    if not m:
        raise InputError(f"--where: expected COL=VALUE (or COL!=, <, <=, >, >= VALUE), got {cond!r}")
    return m.group(1), m.group(2), m.group(3).strip()


def _matches(series: pd.Series, op: str, text: str) -> pd.Series:
    """Compare a column with the text of a `--where` value, in the column's own kind:
    numbers numerically (`seed=1` matches 1 and 1.0), booleans as true/false/1/0, the rest
    as text; `null` (or an empty value) matches missing values."""
    import pandas as pd

    op = "=" if op == "==" else op
    if text.lower() in _NULLS and op in ("=", "!="):
        missing = series.isna()
        return missing if op == "=" else ~missing
    value: Any = text
    column: pd.Series = series
    if pd.api.types.is_bool_dtype(series) or (
        series.dropna().map(lambda v: isinstance(v, bool)).all() and series.notna().any()
    ):
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in truth:
            raise InputError(f"--where: expected true or false for a boolean column, got {text!r}")
        value = truth[text.lower()]
    elif pd.api.types.is_numeric_dtype(series) or _all_numbers(series):
        try:
            value = float(text)
        except ValueError:
            if op not in ("=", "!="):
                raise InputError(f"--where: expected a number to compare with, got {text!r}") from None
            column = series.astype(str)
        else:
            column = pd.to_numeric(series, errors="coerce")
    else:
        column = series.astype(str).where(series.notna(), None)
    if op in ("=", "=="):
        return column == value
    if op == "!=":
        return column != value
    if isinstance(value, str) and op in ("<", "<=", ">", ">="):
        raise InputError(f"--where: {op} needs a numeric column, got {text!r}")
    ops = {"<": column.lt, "<=": column.le, ">": column.gt, ">=": column.ge}
    result: pd.Series = ops[op](value)
    return result.fillna(False).astype(bool)


def _all_numbers(series: pd.Series) -> bool:
    present = series.dropna()
    return bool(len(present)) and bool(
        present.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()
    )


def filter_frame(
    frame: pd.DataFrame,
    statuses: Sequence[str] = (),
    where: Sequence[str] = (),
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Apply `--status`, `--where COL=VALUE` and `--columns` (in that order)."""
    from .status import ALL_STATUSES

    for s in statuses:
        if s not in ALL_STATUSES:
            raise InputError(f"--status: unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}")
    if statuses and "status" in frame.columns:
        frame = frame[frame["status"].isin(list(statuses))]
    for cond in where:
        col, op, value = parse_condition(cond)
        if col not in frame.columns:
            raise InputError(f"--where: unknown column {col!r}; expected one of {_column_list(frame)}")
        frame = frame[_matches(frame[col], op, value)]
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"--columns: unknown column {missing[0]!r}; expected one of {_column_list(frame)}")
        frame = frame[list(dict.fromkeys(columns))]
    return frame


def _column_list(frame: pd.DataFrame) -> str:
    return ", ".join(map(str, frame.columns)) if len(frame.columns) else "(the table is empty)"


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


def display_columns(frame: pd.DataFrame, parameters: Sequence[str], results: Sequence[str]) -> list[str]:
    """The columns `pyexp results` shows as a table by default: what a researcher reads
    (id, parameters, status, results, attempts, and the error if any row has one)."""
    wanted = ["ID", *parameters, "status", *results, "attempts"]
    if "error" in frame.columns and frame["error"].notna().any():
        wanted.append("error")
    return [c for c in wanted if c in frame.columns]


def last_line(text: Any) -> Any:
    """The last non-empty line of a traceback: what went wrong, without the stack."""
    if not isinstance(text, str):
        return text
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def select_results(
    frame: pd.DataFrame,
    result_columns: Sequence[str],
    status: Sequence[str] = (),
    where: Sequence[str] = (),
    columns: Sequence[str] = (),
    group_by: Sequence[str] = (),
    agg: str | Sequence[str] = "mean",
) -> pd.DataFrame:
    """Filter, then aggregate (with `group_by`), then pick columns: `pyexp results` in one call.

    After aggregation `columns` may name a result column (`accuracy`) to keep all of its
    aggregates (`accuracy_mean`, `accuracy_std`); the group columns and `n` always stay.
    """
    status, where, columns, group_by = (_listed(v) for v in (status, where, columns, group_by))
    if not group_by:
        return filter_frame(frame, status, where, columns)
    size = size_column(frame.columns)
    frame = aggregate(filter_frame(frame, status, where), group_by, result_columns, agg)
    if not columns:
        return frame
    keep: list[str] = [*dict.fromkeys(group_by), size]
    for c in columns:
        found = [c] if c in frame.columns else [f for f in frame.columns if f.startswith(f"{c}_") and f[len(c) + 1 :] in AGGREGATIONS]
        if not found:
            raise InputError(f"--columns: unknown column {c!r}; expected one of {_column_list(frame)}")
        keep += [f for f in found if f not in keep]
    return frame[keep]


def _listed(value: str | Sequence[str]) -> list[str]:
    """A single name is a list of one (`group_by="dataset"`), not a list of letters."""
    return [value] if isinstance(value, str) else list(value)
