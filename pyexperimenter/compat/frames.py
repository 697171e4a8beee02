"""DataFrames with PyExperimenter 1.4's dtypes: BOOLEAN columns as 0/1 integers, as its
drivers give them (SQLite stores 1/0, MySQL's BOOLEAN is TINYINT(1)), and integral NUMERIC
values on SQLite as integers (its affinity stores them so)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config import ExperimentConfig
from ..sqltypes import SqlType

if TYPE_CHECKING:
    import pandas as pd


def _as_int(value: Any) -> Any:
    if value is None or value != value:  # None or NaN
        return None
    return int(value)


def pyexperimenter_frame(frame: pd.DataFrame, config: ExperimentConfig,
                         columns: Mapping[str, SqlType] | None = None) -> pd.DataFrame:
    import pandas as pd

    types = columns if columns is not None else {**config.parameters, **config.results}
    for name, sql_type in types.items():
        if name not in frame.columns:
            continue
        if sql_type.kind == "bool":
            frame[name] = pd.to_numeric(frame[name].map(_as_int))
        elif sql_type.kind == "decimal" and config.database.kind == "sqlite" and _integral(frame[name]):
            # SQLite's NUMERIC affinity stores 2 as INTEGER: PyExperimenter's frames show int64.
            frame[name] = frame[name].astype("int64")
    return frame


def _integral(series: pd.Series) -> bool:
    return bool(len(series)) and bool(series.notna().all()) and all(float(v).is_integer() for v in series)
