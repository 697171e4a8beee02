"""The one path from rows to text: one writer per format (table, CSV, JSON, JSON lines).
Parquet is pyarrow's writer (streaming.py's `write_parquet`, typed from the store's columns).

Rows are column names and an iterator of chunks, each a list of tuples (or lists). They come
from the store's typed stream (streaming.py), from aggregates (`Records.chunks()`), or from a
DataFrame (`frame_chunks`, for the Python API and the compact table); every writer takes them
alike and writes each chunk as it arrives, so CSV, JSON and JSON lines take constant memory.
Only the table needs every row to size its columns, and it is meant for what a terminal shows.

The values are written by one set of rules (docs/cli.md, "Output formats"):

- a float as its `repr` (the shortest text that reads back as the same float: `0.30000000000000004`,
  `1e+22`, `-0.0`, `inf`); NaN is a missing value;
- a missing value (NULL) an empty field in CSV, `null` in JSON, `-` in the table;
- dates and times as ISO 8601 text, as SQL writes them (`2026-12-07 12:00:00.123456`);
- DECIMAL as its exact text (in JSON a string, so no digit is lost to a double);
- booleans as stored: `True`/`False` in CSV and the table, `true`/`false` in JSON;
- integers of any size and text as they are; in CSV text and dates always in quotes, numbers
  and booleans bare.

Nothing here imports pandas: `frame_chunks` takes the DataFrame it is given.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InputError
from ..escaping import csv_cell, terminal

if TYPE_CHECKING:
    import pandas as pd

Chunk = Sequence[Sequence[Any]]
Chunks = Iterable[Chunk]
CHUNK_ROWS = 5000  # rows read from the cursor and written at a time
TEXT_FORMATS = ("table", "csv", "json", "jsonl")


def counted(chunks: Chunks, count: list[int], advance: Callable[[int], Any] | None = None) -> Iterator[Chunk]:
    """`chunks` passed on, their rows added to `count[0]` (and to a progress bar) as written."""
    for chunk in chunks:
        yield chunk
        count[0] += len(chunk)
        if advance is not None:
            advance(len(chunk))


class open_output:
    """The output file, or stdout left open."""

    def __init__(self, output: str | None):
        self.output = output
        self.file: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.output is None:
            return sys.stdout
        self.file = Path(self.output).open("w", newline="", encoding="utf-8")
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


# --- the writers: names and chunks in, text out


def write_csv(names: Sequence[str], chunks: Chunks, out: IO[str], header: bool = True, lines: bool = False,
              formulas: bool = False) -> None:
    """A header (quoted where needed), then a line per row ending in \\n; text (and dates) always in quotes, as
    MariaDB writes it (csv.writer quotes no bare \\r otherwise), numbers and booleans bare,
    NULL an empty field (`""`). With `lines`, each row is one field already holding its line of CSV
    (MariaDB writes them: store/sql/selects.py). With `formulas`, text a spreadsheet would run
    as a formula gets a leading `'` (escaping.csv_cell)."""
    if header:
        csv.writer(out, lineterminator="\n").writerow(names)
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    if lines:
        for chunk in chunks:
            out.write("".join(f"{row[0]}\n" for row in chunk))
        return
    for chunk in chunks:
        writer.writerows([[csv_cell(v) for v in row] for row in chunk] if formulas else chunk)


def write_safe_csv(names: Sequence[str], chunks: Chunks, out: IO[str]) -> None:
    """CSV whose text cells never start a spreadsheet formula (`results --csv-formulas`)."""
    write_csv(names, chunks, out, formulas=True)


def _json_default(value: Any) -> Any:
    """Dates, DECIMAL and the rest json cannot write: their text; bytes decoded."""
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    return str(value)


def _json_rows(names: Sequence[str], chunks: Chunks) -> Iterator[list[str]]:
    dumps = json.JSONEncoder(ensure_ascii=False, default=_json_default).encode
    for chunk in chunks:
        yield [dumps(dict(zip(names, row))) for row in chunk]


def write_jsonl(names: Sequence[str], chunks: Chunks, out: IO[str]) -> None:
    """One JSON object per line."""
    for objects in _json_rows(names, chunks):
        out.write("".join(f"{o}\n" for o in objects))


def write_json(names: Sequence[str], chunks: Chunks, out: IO[str]) -> None:
    """One JSON array of objects, an object per line."""
    out.write("[")
    first = True
    for objects in _json_rows(names, chunks):
        if objects:
            out.write(("\n" if first else ",\n") + ",\n".join(objects))
            first = False
    out.write("]\n" if first else "\n]\n")


def table_cell(value: Any) -> str:
    """A value as the table shows it. The table is for reading, so floats show six
    significant digits (`0.180001`, not `0.18000100000001515`); CSV and JSON keep every one."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else format(value, ".6g")
    if isinstance(value, (bytes, bytearray)):
        value = value.decode(errors="replace")
    return terminal(value, one_line=True)  # the terminal's rule (escaping.py): no escape sequence acts


def write_table(names: Sequence[str], chunks: Chunks, out: IO[str]) -> None:
    """Columns aligned, each to its widest cell, right-aligned; `(no rows)` for none. It holds
    every row's text to size the columns: for a terminal's worth of rows (CSV for more)."""
    rows = [[table_cell(v) for v in row] for chunk in chunks for row in chunk]
    if not rows:
        out.write("(no rows)\n")
        return
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, name in enumerate(names)]
    out.write(" ".join(n.rjust(w) for n, w in zip(names, widths)) + "\n")
    for row in rows:
        out.write(" ".join(c.rjust(w) for c, w in zip(row, widths)) + "\n")


WRITERS: dict[str, Callable[[Sequence[str], Chunks, IO[str]], None]] = {
    "table": write_table, "csv": write_csv, "json": write_json, "jsonl": write_jsonl,
    "safe-csv": write_safe_csv,  # `csv` with --csv-formulas: chosen by the command, not a --format
}


def write_rows(fmt: str, names: Sequence[str], chunks: Chunks, out: IO[str]) -> None:
    """`chunks` written to `out` in `fmt` (table, csv, json or jsonl)."""
    if fmt not in WRITERS:
        raise InputError(f"--format: expected one of {', '.join(TEXT_FORMATS)}, got {fmt!r}")
    WRITERS[fmt](names, chunks, out)


def render(fmt: str, names: Sequence[str], chunks: Chunks) -> str:
    """The text `write_rows` writes."""
    out = io.StringIO()
    write_rows(fmt, names, chunks, out)
    return out.getvalue()


def emit(fmt: str, names: Sequence[str], chunks: Chunks, output: str | None) -> str | None:
    """Without an output, the text to print; else written to `output` as it comes."""
    if output is None:
        return render(fmt, names, chunks)
    with open_output(output) as out:
        write_rows(fmt, names, chunks, out)
    return None


# --- sources that are not the store's stream


def plain(value: Any) -> Any:
    """A value as the writers take it: NaN (pandas' and aggregates' missing value) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


def list_chunks(rows: Sequence[Sequence[Any]], chunk: int = CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """Rows held in memory, NaN made None, a chunk at a time."""
    for start in range(0, len(rows), chunk):
        yield [tuple(plain(v) for v in row) for row in rows[start:start + chunk]]


def frame_chunks(frame: pd.DataFrame, chunk: int = CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """A DataFrame's rows as Python values (numpy scalars unboxed), missing values None."""
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start:start + chunk].astype(object)
        part = part.where(part.notna(), None)
        yield [tuple(plain(v) for v in row) for row in part.itertuples(index=False, name=None)]
