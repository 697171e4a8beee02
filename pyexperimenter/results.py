"""What an experiment function writes (ResultProcessor), and how results are read back."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
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


def table_frame(rows: list[dict[str, Any]], keep_internal: bool = False) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)
    if not keep_internal and not frame.empty:
        frame = frame.drop(columns=[c for c in INTERNAL_COLUMNS if c in frame.columns])
    return frame


def filter_frame(
    frame: pd.DataFrame,
    statuses: Sequence[str] = (),
    where: Sequence[str] = (),
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Apply `--status`, `--where COL=VALUE` (values compared as text) and `--columns`."""
    if statuses:
        frame = frame[frame["status"].isin(list(statuses))]
    for cond in where:
        if "=" not in cond:
            raise InputError(f"--where: expected COL=VALUE, got {cond!r}")
        col, value = (s.strip() for s in cond.split("=", 1))
        if col not in frame.columns:
            raise InputError(f"--where: unknown column {col!r}")
        frame = frame[frame[col].astype(str) == value]
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"--columns: unknown column {missing[0]!r}")
        frame = frame[list(columns)]
    return frame


def aggregate(
    frame: pd.DataFrame, group_by: Sequence[str], result_columns: Sequence[str], agg: str = "mean"
) -> pd.DataFrame:
    """Aggregate results over the parameters not grouped by (typically: over seeds).

    Only finished rows count; the size of each group is kept in column `n`.
    """
    if agg not in AGGREGATIONS:
        raise InputError(f"--agg: expected one of {', '.join(AGGREGATIONS)}, got {agg!r}")
    missing = [c for c in group_by if c not in frame.columns]
    if missing:
        raise InputError(f"--group-by: unknown column {missing[0]!r}")
    done = frame[frame["status"] == "done"] if "status" in frame.columns else frame
    values = [c for c in result_columns if c in done.columns and c not in group_by]
    import pandas as pd

    if done.empty:
        return pd.DataFrame(columns=[*group_by, "n", *values])
    numeric = done[values].apply(pd.to_numeric, errors="coerce")
    numeric[list(group_by)] = done[list(group_by)]
    grouped = numeric.groupby(list(group_by), dropna=False, sort=True)
    out = grouped[values].agg(agg)
    out.insert(0, "n", grouped.size())
    return out.reset_index()
