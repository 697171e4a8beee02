"""Exports that stream: CSV, JSON lines and Parquet written chunk by chunk, in constant memory.

A million rows never become a DataFrame: they come from a server-side cursor (store/stream.py)
a few thousand at a time and are written at once. pandas is not imported here at all (it
alone would cost more memory than the whole export); Parquet needs the optional pyarrow
(`pip install 'pyexperimenter[parquet]'`). The files hold what `results()` returns, written
the way pandas writes it (tests read both back and compare).

CSV is the format a million rows are most often read back in, and gets two shortcuts: MariaDB
writes each row as a line itself (store/select.py's render_csv_line); from SQLite a large file
is written by two processes, half the rows each (results/halves.py), as one process is bound
to one core by sqlite3's fetching and csv.writer's formatting together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from .query import listed, selection
from .writers import CHUNK_ROWS, counted, open_output, write_csv, write_csv_lines, write_jsonl, write_parquet

if TYPE_CHECKING:
    from ..store import Store

STREAMED_FORMATS = ("csv", "jsonl", "parquet")
# From this many rows a CSV file from SQLite is written by two processes (results/halves.py);
# below it forking and joining the halves costs more than it saves.
HALVES_ROWS = 100_000


def export(store: Store, fmt: str, output: str | None, status: Sequence[str] = (), where: Sequence[str] = (),
           columns: Sequence[str] = (), progress: bool | None = None) -> int:
    """Write the rows `results()` would return to `output` (stdout when None) in `fmt`;
    returns how many. A progress bar shows on stderr when it is a terminal. A CSV file from
    SQLite of HALVES_ROWS rows or more is written in two processes (the same bytes)."""
    from .progress import ProgressBar

    if fmt not in STREAMED_FORMATS:
        raise InputError(f"--format: expected one of {', '.join(STREAMED_FORMATS)} to stream, got {fmt!r}")
    if fmt == "parquet" and not output:
        raise InputError("--format parquet: needs --output FILE (Parquet is not text)")
    sel = selection(store, status, where)
    names = sel.columns(listed(columns))
    show = sys.stderr.isatty() if progress is None else progress
    lines = fmt == "csv" and store.csv_in_sql()  # rows arrive as CSV lines (MariaDB)
    halves = (fmt == "csv" and not lines and output is not None and store.exports_in_halves() and _can_fork()
              and (Path(output).is_file() or not Path(output).exists()))  # not a pipe or a device
    total = store.count_rows(sel.where_parts(), sel.args) if show or halves else 0
    if halves and total >= HALVES_ROWS:
        from .halves import export_csv_in_halves

        assert output is not None
        both = export_csv_in_halves(store, sel, names, output, total, show)
        if both is not None:
            return both
    if lines:
        chunks = store.stream_csv_lines([(c, sel.kinds[c]) for c in names], sel.where_parts(), sel.args,
                                        chunk=CHUNK_ROWS)
    else:
        chunks = store.stream_rows(names, sel.where_parts(), sel.args, chunk=CHUNK_ROWS)
    with ProgressBar(total, f"export {fmt}", enabled=show) as bar:
        written = [0]
        if fmt == "parquet":
            assert output is not None
            write_parquet(store, names, sel.kinds, counted(chunks, written, bar.advance), output)
        else:
            write = write_csv_lines if lines else write_csv if fmt == "csv" else write_jsonl
            with open_output(output) as out:
                write(store, names, sel.kinds, counted(chunks, written, bar.advance), out)
    return written[0]


def _can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1
