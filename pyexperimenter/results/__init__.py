"""What an experiment function writes (`processor.py`), how results are filtered and
aggregated in pandas (`filtering.py`) or in the database (`query.py`, whose aggregates are
plain rows, `records.py`), and how they are written out: `writers.py` holds the one writer
of each format (table, CSV, JSON, JSON lines; Parquet), fed by `streaming.py` (the store's
rows, any number, in constant memory; `halves.py` for a large CSV file from SQLite), by
`records.py` (aggregates, without pandas) and by `export.py` (a DataFrame); and
what an experiment printed (`logs.py`, `pyexp logs`). `progress.py` draws the progress bars
of exports and of the commands that wait for workers.

Nothing here imports pandas at load time: `pyexp --help` reads AGGREGATIONS from here.
"""

from __future__ import annotations

from .export import FORMATS, choose_format, compact_frame, display_columns, format_frame, last_line, write_frame
from .filtering import (
    AGGREGATIONS,
    aggregate,
    aggregations,
    filter_frame,
    parse_condition,
    select_results,
    size_column,
    table_frame,
)
from .processor import InvalidResultError, ResultProcessor, check_result_keys

__all__ = [
    "AGGREGATIONS",
    "FORMATS",
    "InvalidResultError",
    "ResultProcessor",
    "aggregate",
    "aggregations",
    "check_result_keys",
    "choose_format",
    "compact_frame",
    "display_columns",
    "filter_frame",
    "format_frame",
    "last_line",
    "parse_condition",
    "select_results",
    "size_column",
    "table_frame",
    "write_frame",
]
