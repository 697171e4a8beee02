"""CSV written as pandas writes it, chunk by chunk, into a file or stdout: one writer for
both exports of a results table, in one process (streaming.py) or two (halves.py), so that
neither reaches into the other."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .query import Decoder, decode_rows, decoder

if TYPE_CHECKING:
    from ..store import Store

CHUNK_ROWS = 5000


def counted(chunks: Iterator[list[tuple[Any, ...]]], count: list[int],
            advance: Callable[[int], Any] | None = None) -> Iterator[list[tuple[Any, ...]]]:
    """`chunks` passed on, their rows added to `count[0]` (and to a progress bar) as written."""
    for chunk in chunks:
        yield chunk
        count[0] += len(chunk)
        if advance is not None:
            advance(len(chunk))


class OutputFile:
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
