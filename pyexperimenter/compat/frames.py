"""DataFrames with PyExperimenter 1.4's dtypes: BOOLEAN columns as 0/1 integers, as its
drivers give them (SQLite stores 1/0, MySQL's BOOLEAN is TINYINT(1))."""

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
        if sql_type.kind == "bool" and name in frame.columns:
            frame[name] = pd.to_numeric(frame[name].map(_as_int))
    return frame
