"""Results as text: the compact table a researcher reads, or every column as CSV or JSON,
a DataFrame's rows written by writers.py (the one writer of each format).

`pyexp results` parses flags and prints what these return, so the choice of format (from
--format, else from the extension of -o FILE) is made here and can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}


def choose_format(fmt: str | None, output: str | None = None) -> str:
    """An explicit format wins; else the output file's extension (.csv, .json, .jsonl,
    .parquet); else a table."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    return _BY_SUFFIX.get(suffix, "table")


def display_columns(frame: pd.DataFrame, parameters: Sequence[str], results: Sequence[str]) -> list[str]:
    """The columns `pyexp results` shows as a table by default: what a researcher reads
    (id, parameters, status, results, attempts, and the error if any row has one)."""
    wanted = ["ID", *parameters, "status", *results, "pyexp_attempts"]
    if "error" in frame.columns and frame["error"].notna().any():
        wanted.append("error")
    return [c for c in wanted if c in frame.columns]


def last_line(text: Any) -> Any:
    """The last non-empty line of a traceback: what went wrong, without the stack."""
    if not isinstance(text, str):
        return text
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def compact_frame(frame: pd.DataFrame, parameters: Sequence[str], results: Sequence[str],
                  extra: Sequence[str] = ()) -> pd.DataFrame:
    """The default table: the columns of `display_columns` (and `extra` ones, such as the
    provenance), each error cut to its last line."""
    frame = frame[[*display_columns(frame, parameters, results), *(c for c in extra if c in frame.columns)]]
    if "error" in frame.columns:
        frame = frame.assign(error=frame["error"].map(last_line))
    return frame


def format_frame(frame: pd.DataFrame, fmt: str) -> str:
    """The text of `frame` in `fmt` (table, csv, json, jsonl), written by writers.py's rules."""
    from .writers import frame_chunks, render

    return render(fmt, [str(c) for c in frame.columns], frame_chunks(frame))


def write_frame(frame: pd.DataFrame, fmt: str, output: str | None) -> str | None:
    """Write `frame` to `output` in `fmt` (Parquet only to a file); without an output, the
    text to print."""
    from .writers import emit, frame_chunks

    if fmt == "parquet":
        if not output:
            raise InputError("--format parquet: needs --output FILE (Parquet is not text)")
        try:
            frame.to_parquet(output, index=False)
        except ImportError:
            raise InputError("--format parquet needs pyarrow: pip install 'pyexperimenter[parquet]'") from None
        return None
    return emit(fmt, [str(c) for c in frame.columns], frame_chunks(frame), output)
