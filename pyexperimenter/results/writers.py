"""The writers of exported rows: CSV, JSON lines and Parquet, chunk by chunk as they arrive.

Apart from streaming.py, which chooses a writer and feeds it, because results/halves.py
writes its half of a CSV file with the same writer: both depend on this module, neither on
the other. The bytes match what pandas writes of `results()` (tests read both back).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import InputError
from .query import Decoder, decode_rows, decoder

if TYPE_CHECKING:
    from ..store import Store

CHUNK_ROWS = 5000  # rows read from the cursor and written at a time
_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")


def counted(chunks: Iterator[list[tuple[Any, ...]]], count: list[int],
            advance: Callable[[int], Any] | None = None) -> Iterator[list[tuple[Any, ...]]]:
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


def write_csv(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
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


def write_csv_lines(store: Store, names: Sequence[str], kinds: Mapping[str, str],
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


def write_jsonl(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
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


def write_parquet(store: Store, names: Sequence[str], kinds: Mapping[str, str], chunks: Iterator[list[tuple[Any, ...]]],
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
