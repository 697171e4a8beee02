"""A large CSV export from SQLite written by two processes, each half of the rows.

One process is bound to one core: fetching a million rows from sqlite3 and formatting them
with csv.writer take 5.2-6.6 s together, and a thread would not help (the GIL). Building the
lines in SQL is slower still on SQLite (its per-field expressions cost more than csv.writer's
C; docs/performance.md). So the rows are cut at the ID in their middle: a forked child writes
the second half to a temporary file beside the output while this process writes the header
and the first half, then appends the child's file. The bytes are those one process writes:
both halves go through writers.py's CSV writer (halves.py depends on writers.py and
query.py; streaming.py, which chooses it, on all three, and none of them on it).

Each process reads its own read-only snapshot: while workers write, the two halves may be
read a moment apart (each row is still written once, as it was when its half was read).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PyexpError
from ..store.select import Selection
from . import writers
from .query import typed_chunks
from .writers import CHUNK_ROWS, counted, open_output

if TYPE_CHECKING:
    from ..store import Store


def export_csv_in_halves(store: Store, sel: Selection, names: Sequence[str], output: str, total: int,
                         show: bool) -> int | None:
    """Write `total` rows of `sel` to `output` as CSV in two processes; returns how many were
    written, or None (nothing written) when the rows cannot be cut in two."""
    found = store.nth_id(sel.where_parts(), sel.args, total // 2)
    if found is None:  # rows went away since they were counted
        return None
    middle = found

    def rows(op: str) -> Iterator[list[tuple[Any, ...]]]:
        return store.stream_rows(names, sel.where_parts(("cmp", "ID", op)), [*sel.args, middle], chunk=CHUNK_ROWS)

    fd, part = tempfile.mkstemp(prefix=".pyexp-export-", suffix=".csv", dir=Path(output).resolve().parent)
    os.close(fd)
    try:
        return _in_two(store, sel, names, output, total, show, part, rows)
    finally:
        Path(part).unlink(missing_ok=True)


def _in_two(store: Store, sel: Selection, names: Sequence[str], output: str, total: int, show: bool, part: str,
            rows: Callable[[str], Iterator[list[tuple[Any, ...]]]]) -> int:
    from .progress import ProgressBar

    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # the second half into `part`; its row count down the pipe
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends us
            os.close(reader)
            with open(part, "w", newline="", encoding="utf-8") as f:
                count = [0]
                writers.write_csv(names, typed_chunks(store, names, sel.kinds, counted(rows(">="), count)), f, header=False)
            os.write(writer, str(count[0]).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(writer)
    try:
        with ProgressBar(total, "export csv", enabled=show) as bar:
            first = [0]
            with open_output(output) as out:
                writers.write_csv(names, typed_chunks(store, names, sel.kinds, counted(rows("<"), first, bar.advance)), out)
            reply = _read_all(reader)
            _, status = os.waitpid(child, 0)
            child = 0
            if status != 0 or not reply.isdigit():
                raise PyexpError(f"writing the second half of the rows to {part} failed (see above)")
            with open(part, "rb") as src, open(output, "ab") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            bar.advance(int(reply))
        return first[0] + int(reply)
    finally:
        if child:  # interrupted: the child goes too
            os.kill(child, signal.SIGTERM)
            os.waitpid(child, 0)
        os.close(reader)


def _read_all(fd: int) -> str:
    data = b""
    while block := os.read(fd, 64):
        data += block
    return data.decode()
