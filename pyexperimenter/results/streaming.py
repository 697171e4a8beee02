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

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InputError
from .query import Decoder, decode_rows, decoder, listed, selection

if TYPE_CHECKING:
    from ..store import Store

STREAMED_FORMATS = ("csv", "jsonl", "parquet")
CHUNK_ROWS = 5000
# From this many rows a CSV file from SQLite is written by two processes (results/halves.py);
# below it forking and joining the halves costs more than it saves.
HALVES_ROWS = 100_000
_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")


def export(store: Store, fmt: str, output: str | None, status: Sequence[str] = (), where: Sequence[str] = (),
           columns: Sequence[str] = (), progress: bool | None = None) -> int:
    """Write the rows `results()` would return to `output` (stdout when None) in `fmt`;
    returns how many. A progress bar shows on stderr when it is a terminal. A CSV file from
    SQLite of HALVES_ROWS rows or more is written in two processes (the same bytes)."""
    from ..render import ProgressBar

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
            _write_parquet(store, names, sel.kinds, counted(chunks, written, bar.advance), output)
        else:
            write = _write_csv_lines if lines else _write_csv if fmt == "csv" else _write_jsonl
            with _open(output) as out:
                write(store, names, sel.kinds, counted(chunks, written, bar.advance), out)
    return written[0]


def counted(chunks: Iterator[list[tuple[Any, ...]]], count: list[int],
            advance: Callable[[int], Any] | None = None) -> Iterator[list[tuple[Any, ...]]]:
    """`chunks` passed on, their rows added to `count[0]` (and to a progress bar) as written."""
    for chunk in chunks:
        yield chunk
        count[0] += len(chunk)
        if advance is not None:
            advance(len(chunk))


class _open:
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


def _can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _write_csv(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
               out: IO[str], header: bool = True) -> None:
    # As pandas writes CSV: a header, empty fields for missing values, fields quoted when
    # needed, True/False for booleans. Only booleans need decoding; the rest is written as read.
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(names)
    decoders: list[Decoder | None] = [decoder(store, c) if kinds[c] == "bool" else None for c in names]
    plain = all(f is None for f in decoders)
    for chunk in chunks:
        writer.writerows(chunk if plain else decode_rows(chunk, decoders))


def _write_csv_lines(store: Store, names: Sequence[str], kinds: Mapping[str, str],
                     chunks: Iterator[list[tuple[Any, ...]]], out: IO[str]) -> None:
    """Rows the server wrote as CSV lines (store/select.py's render_csv_line): only joined."""
    csv.writer(out, lineterminator="\n").writerow(names)
    for chunk in chunks:
        out.write("".join(f"{row[0]}\n" for row in chunk))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")  # as pandas' date_format="iso"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_jsonl(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
                 out: IO[str]) -> None:
    decoders = [decoder(store, c) for c in names]
    for chunk in chunks:
        out.write("".join(json.dumps(dict(zip(names, row)), default=_json_value) + "\n"
                          for row in decode_rows(chunk, decoders)))


def _arrow_type(store: Store, column: str, kind: str) -> Any:
    import pyarrow as pa

    sql_type = store.schema.parameters.get(column) or store.schema.results.get(column)
    if kind == "decimal" and sql_type is not None and (m := _DECIMAL.fullmatch(sql_type.name)):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    types: dict[str, Callable[[], Any]] = {
        "int": pa.int64, "float": pa.float64, "bool": pa.bool_, "date": pa.date32,
        "datetime": lambda: pa.timestamp("us"), "decimal": pa.float64,
    }
    return types.get(kind, pa.string)()


def _write_parquet(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
                   output: str) -> None:
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
