"""Filling: the grid streamed into the table in chunks, idempotently, in constant memory.

Rows are never read back into Python: every chunk is one multi-row `INSERT IGNORE`
(MariaDB), `INSERT ... ON CONFLICT(pyexp_hash) DO NOTHING` (SQLite), or a COPY into a
temporary table and one such INSERT from it (PostgreSQL), keyed on the unique
parameter hash, so re-running a fill adds only what is missing and concurrent fills never
duplicate a row.

What makes it fast:
- `RowEncoder` memoises, per column and distinct value, the value's piece of the parameter
  hash and its database form, so a row costs one dictionary lookup per column and one SHA-1.
  The hash is `grid.parameter_hash`'s, character for character (the same canonical JSON,
  assembled from per-value pieces); the first rows of every fill are checked against
  `parameter_hash` itself and any difference switches the encoder to it for good.
- Encoding runs in a background thread while the calling thread waits on the database, so
  on a multi-core machine Python's work and the server's overlap. The queue between them is
  short: memory stays at a few chunks, whatever the size of the grid.
- MariaDB: pymysql's `executemany` sends a chunk as multi-row INSERTs, values bound as
  parameters. While chunks keep finding their rows present (a refill), each chunk first
  counts its hashes with one `SELECT COUNT(*) ... WHERE pyexp_hash IN (...)` on the unique
  index and skips the INSERT when all are there: InnoDB ignores a duplicate only after
  inserting and rolling back the row, which costs more than looking it up.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...params.grid import normalise, parameter_hash
from ...sqltypes import SqlType
from ..sql.schema import FILL_COLUMNS
from .counters import exists as counted_table
from .session import Cursor, Session

RANK_SPACE = 2**31 - 1
CACHE_LIMIT = 50_000  # distinct values memoised per column; beyond, values are encoded each time
CHECKED_ROWS = 64  # rows per fill whose hash is also computed by grid.parameter_hash
PIPELINE_DEPTH = 2  # chunks encoded ahead of the database

RowPriority = int | Callable[[Mapping[str, Any]], int]  # one for all rows, or each row's own

_CACHEABLE = (str, int, bool, type(None))  # exact types whose equal values encode identically


class RowEncoder:
    """Rows -> (parameter values in database form, parameter hash), memoised per value."""

    def __init__(self, types: Mapping[str, SqlType]):
        self.types = dict(types)
        self.names = list(types)
        order = sorted(range(len(self.names)), key=lambda i: self.names[i])
        self._hash_order = order
        self._caches: list[dict[tuple[type, Any], tuple[str, Any]]] = [{} for _ in self.names]
        self._columns = list(zip(range(len(self.names)), self.names, self._caches))
        self._checked = 0
        self._fast = True

    def _piece(self, index: int, value: Any) -> tuple[str, Any]:
        name = self.names[index]
        sql_type = self.types[name]
        text = json.dumps(normalise(value, sql_type), sort_keys=True, separators=(",", ":"), default=str)
        db_value = sql_type.to_db(value, name)
        return f"{json.dumps(name)}:{text}", db_value

    def encode(self, row: Mapping[str, Any]) -> tuple[list[Any], str]:
        if not self._fast:
            return self._slow(row)
        pieces: list[str] = []
        values: list[Any] = []
        for index, name, cache in self._columns:
            value = row.get(name)
            kind = type(value)
            key: tuple[type, Any] | None
            if kind is float:
                # Equal floats encode alike, except 0.0/-0.0 and nan: key those on their text.
                key = (kind, value) if value == value and value != 0.0 else (kind, repr(value))
            elif kind is str:
                key = (kind, value) if len(str(value)) <= 1024 else None  # long texts: not worth keeping copies
            elif kind in _CACHEABLE:
                key = (kind, value)
            else:
                key = None
            entry = cache.get(key) if key is not None else None
            if entry is None:
                entry = self._piece(index, value)
                if key is not None and len(cache) < CACHE_LIMIT:
                    cache[key] = entry
            pieces.append(entry[0])
            values.append(entry[1])
        text = "{" + ",".join([pieces[i] for i in self._hash_order]) + "}"
        digest = hashlib.sha1(text.encode()).hexdigest()
        if self._checked < CHECKED_ROWS:
            self._checked += 1
            if digest != parameter_hash(row, self.types):
                self._fast = False  # never expected; correctness over speed
                return self._slow(row)
        return values, digest

    def _slow(self, row: Mapping[str, Any]) -> tuple[list[Any], str]:
        return [self.types[n].to_db(row.get(n), n) for n in self.names], parameter_hash(row, self.types)


@dataclass
class Chunk:
    size: int
    hashes: list[str]
    payload: Any  # what the writer sends: rows of values (SQLite) or one statement (MariaDB)


class Filler:
    """Chunks rows and writes them with `executemany` of the store's insert-or-ignore (SQLite).

    Chunks are large: random inserts into the hash and rank indexes dirty most of their
    pages in every transaction, so fewer, larger transactions write far less (1,000,000 rows:
    27 s with 50,000-row chunks, 42 s with 5,000). SQLite's writer lock is held for about
    a second per chunk; workers wait for it (busy_timeout)."""

    chunk_rows = 50_000

    def __init__(self, session: Session, priority: RowPriority = 0):
        self.session = session
        self.priority = priority
        # status and creation_date come from column defaults; `name` (like `machine`) is
        # written when a worker claims the row, as PyExperimenter does. Every value bound per
        # row costs pymysql an escape, so fewer of them is a faster fill.
        self.columns = [*session.schema.parameters, *FILL_COLUMNS]  # the order of `fill_insert`
        self.encoder = RowEncoder(session.schema.parameters)
        self.rand = random.Random()
        self._counted: bool | None = None

    def chunks(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Chunk]:
        encode, bits, priority = self.encoder.encode, self.rand.getrandbits, self.priority
        of_row = priority if callable(priority) else None  # experiment.priority as an expression
        values: list[tuple[Any, ...]] = []
        hashes: list[str] = []
        for row in rows:
            params, digest = encode(row)
            values.append((*params, digest, bits(31) % RANK_SPACE, priority if of_row is None else of_row(row)))
            hashes.append(digest)
            if len(values) >= self.chunk_rows:
                yield Chunk(len(values), hashes, values)
                values, hashes = [], []
        if values:
            yield Chunk(len(values), hashes, values)

    def write(self, cur: Cursor, chunk: Chunk) -> int:
        added = int(self.session.run(cur, "fill_insert", chunk.payload, many=True).rowcount)
        if added and self.counted(cur):  # in the same transaction: the counters never miss a row
            self.session.run(cur, "counts_add", (added,))
        return added

    def counted(self, cur: Cursor) -> bool:
        """Whether the table has counters (store/engine/counters.py): asked once per fill."""
        if self._counted is None:
            self._counted = counted_table(self.session, cur)
        return self._counted


class MySQLFiller(Filler):
    """Chunks go through pymysql's `executemany`, which sends them as multi-row INSERTs with
    every value bound as a parameter; while rows turn out present (a refill), each chunk is
    counted first on the unique hash index and skipped when all of it is there."""

    chunk_rows = 10_000

    def __init__(self, session: Session, priority: RowPriority = 0):
        super().__init__(session, priority)
        self.probe = True  # the first chunk, and every chunk after one that met existing rows

    def write(self, cur: Cursor, chunk: Chunk) -> int:
        if self.probe:
            present = int(self.session.run(cur, "fill_probe", chunk.hashes, hashes=chunk.size).fetchone()[0])
            if present >= chunk.size:
                return 0  # all there: nothing to insert, keep counting
        added = super().write(cur, chunk)
        self.probe = added < chunk.size  # some rows existed: the next chunk may be all present
        return added


class CopyFiller(Filler):
    """PostgreSQL: each chunk is streamed by COPY into a temporary table, then inserted from
    there, skipping present hashes, in one statement. COPY sends the rows as one stream
    instead of one bound statement per row: a million rows in a fraction of the time of
    psycopg's pipelined executemany (benchmarks/scale.py)."""

    def write(self, cur: Cursor, chunk: Chunk) -> int:
        self.session.run(cur, "fill_stage")
        self.session.copy_rows(cur, "fill_copy", chunk.payload)
        added = int(self.session.run(cur, "fill_from_stage").rowcount)
        if added and self.counted(cur):
            self.session.run(cur, "counts_add", (added,))
        return added


def pipeline(produce: Iterator[Chunk], consume: Callable[[Chunk], None], depth: int = PIPELINE_DEPTH) -> None:
    """Run `produce` in a background thread, `consume` in this one, `depth` chunks apart.

    An error on either side stops both and is raised here; the producer never outlives
    this call."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for chunk in produce:
                if not put(("chunk", chunk)):
                    return
            put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            put(("error", e))

    thread = threading.Thread(target=run, name="pyexp-fill-encoder", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            consume(item)
    finally:
        stop.set()
        thread.join()


def filler_for(session: Session, priority: RowPriority = 0) -> Filler:
    """MariaDB's filler probes before it inserts (InnoDB ignores a duplicate only after
    inserting it); SQLite's insert-or-ignore skips a present row at once."""
    if session.dialect.name == "postgres":
        return CopyFiller(session, priority)
    return MySQLFiller(session, priority) if session.dialect.name == "mysql" else Filler(session, priority)


def fill(session: Session, filler: Filler, rows: Iterable[Mapping[str, Any]],
         progress: Callable[[int], None] | None = None) -> int:
    """Insert the rows not present yet, one transaction per chunk; returns how many were new."""
    added = 0

    def consume(chunk: Chunk) -> None:
        nonlocal added
        added += session.transaction(lambda cur: filler.write(cur, chunk))
        if progress:
            progress(chunk.size)

    pipeline(filler.chunks(rows), consume)
    return added


__all__: Sequence[str] = ["CopyFiller", "Filler", "MySQLFiller", "RowEncoder", "fill", "filler_for", "pipeline"]
