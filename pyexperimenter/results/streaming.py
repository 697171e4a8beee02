"""Exports that stream: the rows of `results()` from the store's typed stream, a few thousand
at a time, through writers.py's writer of the format (CSV, JSON, JSON lines; Parquet), in
constant memory.

A million rows never become a DataFrame, and pandas is not imported here at all (it alone
would cost more memory than the whole export); Parquet needs the optional pyarrow
(`pip install 'pyexperimenter[parquet]'`). Booleans are the only values decoded on the way
(0/1 as True/False); the rest is written as the driver returns it, by writers.py's rules.

CSV is the format a million rows are most often read back in, and gets two shortcuts: MariaDB
writes each row as a line itself (store/sql/selects.py's render_csv_line), and from SQLite a
large file is written by two processes, half the rows each (results/halves.py, which feeds the
same CSV writer), as one process is bound to one core by sqlite3's fetching and csv.writer's
formatting together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .query import decode_rows, decoder, listed, selection, typed_chunks
from .writers import CHUNK_ROWS, Chunks, counted, open_output, write_csv, write_rows

if TYPE_CHECKING:
    from ..store import Store

STREAMED_FORMATS = ("csv", "json", "jsonl", "parquet", "safe-csv")  # safe-csv: csv with --csv-formulas
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
            with open_output(output) as out:
                if lines:
                    write_csv(names, counted(chunks, written, bar.advance), out, lines=True)
                else:
                    write_rows(fmt, names, typed_chunks(store, names, sel.kinds, counted(chunks, written, bar.advance)), out)
    return written[0]


def _can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _arrow_type(store: Store, column: str, kind: str) -> Any:
    import re

    import pyarrow as pa

    sql_type = store.schema.parameters.get(column) or store.schema.results.get(column)
    if kind == "decimal" and sql_type is not None and (m := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", sql_type.name)):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    types: dict[str, Callable[[], Any]] = {
        "int": pa.int64, "float": pa.float64, "bool": pa.bool_, "date": pa.date32,
        "datetime": lambda: pa.timestamp("us"), "decimal": pa.float64,
    }
    return types.get(kind, pa.string)()


def write_parquet(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Chunks, output: str) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("--format parquet needs pyarrow: pip install 'pyexperimenter[parquet]'") from None
    schema = pa.schema([(c, _arrow_type(store, c, kinds[c])) for c in names])
    # JSON stays its text (Parquet has no column of arbitrary values); the rest decoded.
    decoders = [None if kinds[c] == "json" else decoder(store, c) for c in names]
    with pq.ParquetWriter(output, schema) as writer:
        for chunk in chunks:
            rows = list(decode_rows(chunk, decoders))
            arrays = [pa.array([r[i] for r in rows], type=schema.field(i).type) for i in range(len(names))]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
