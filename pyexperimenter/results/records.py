"""Aggregates as plain rows: `pyexp results --group-by` prints about ten of them, and importing
pandas to build and print a ten-row DataFrame took longer than computing them. The Python API
still returns a DataFrame (`Records.frame()`), made from these same rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Records:
    """Column names and rows, in the order they are shown."""

    columns: list[str]
    rows: list[list[Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """The DataFrame `results()` returns: pandas infers each column's type from the values."""
        import pandas as pd

        if not self.rows:
            return pd.DataFrame(columns=list(self.columns))
        return pd.DataFrame(self.rows, columns=list(self.columns))

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        """The rows as writers.py takes them (missing values None)."""
        from .writers import list_chunks

        return list_chunks(self.rows)

    def write(self, fmt: str, output: str | None) -> str | None:
        """Written to `output` in `fmt`; without an output, the text to print. Parquet goes
        through the DataFrame (pyarrow's writer)."""
        from .writers import emit

        if fmt == "parquet":
            from .export import write_frame

            return write_frame(self.frame(), fmt, output)
        return emit(fmt, self.columns, self.chunks(), output)

    def pick(self, columns: Sequence[str]) -> Records:
        """Only these columns, in this order."""
        where = [self.columns.index(c) for c in columns]
        return Records(list(columns), [[row[i] for i in where] for row in self.rows])


def missing(value: Any) -> bool:
    """What pandas reads as a missing value among the values aggregates take (None, NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def sort_rows(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows sorted by their first `width` values (the group keys), missing keys last, ties kept
    in their order: `sort_values(keys, na_position="last", kind="mergesort")`."""
    def key(row: list[Any]) -> tuple[tuple[bool, Any], ...]:
        return tuple((True, 0) if missing(v) else (False, v) for v in row[:width])

    try:
        return sorted(rows, key=key)
    except TypeError:  # keys of kinds Python cannot compare (e.g. JSON values): by their text
        return sorted(rows, key=lambda row: tuple((True, "") if missing(v) else (False, str(v)) for v in row[:width]))
