"""What an experiment prints, captured per attempt (`pyexp logs`).

Output is tee'd, never swallowed: the terminal and the SLURM log still show it. Its last
TAIL_BYTES stay in memory, to be stored with the attempt; the whole goes to the attempt's
own file, `<log folder>/output/<ID>-<claim token>.log` (the claim token names the attempt,
so `pyexp logs` finds a running attempt's file from the attempts table alone). Creating a
file costs about a millisecond on a local disk and more on a cluster's shared file system,
which would make short experiments several times slower: the file is created only once the
output outgrows the tail or the attempt has run FILE_AFTER_SECONDS. Until then the tail
is the whole output, and the attempt's `log_file` stays empty to say so. An experiment that
prints nothing costs two attribute swaps: its capture is made at its first write (`tee_start`).

In the worker's process (`isolation: none`) the tee is Python-level: `sys.stdout` and
`sys.stderr` are swapped for the attempt, so what C code or a subprocess writes to the file
descriptors reaches the terminal but not the capture. A child (`isolation: process`) has
its descriptors 1 and 2 on pipes that the worker reads (worker/isolation.py), so everything
it and its subprocesses write is captured, up to a kill.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from ..results.logs import attempt_log_path, lost_output_note

TAIL_BYTES = 4096  # stored with the attempt
FILE_AFTER_SECONDS = 1.0  # a longer attempt gets its file at its next write (for `pyexp logs --follow`)


def decode_tail(data: bytes, cut: bool = True) -> str:
    """Bytes as text without a broken character: a tail that starts inside a UTF-8 sequence
    (`cut`: it was cut from a longer output) loses those bytes, and an unfinished sequence at
    its end (output still being written) is left out. Invalid bytes become U+FFFD."""
    start = 0
    while cut and start < min(len(data), 3) and data[start] & 0xC0 == 0x80:
        start += 1
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data[start:], final=False)


class Capture:
    """One attempt's output: streamed whole to its file, the last `limit` bytes kept in memory.

    The experiment's own threads print too, and the heartbeat thread reads `snapshot`: a
    lock keeps the byte count, the tail and the file's first write consistent between them.
    Once closed (the attempt ended), writes are dropped: they belong to no attempt.

    `path` may be left to `for_attempt`, which works it out when the file is first opened or
    named: an attempt that prints nothing never joins its path (~1.5 us)."""

    __slots__ = ("_path", "_attempt", "limit", "written", "file_error", "_tail", "_file", "_opened", "_closed",
                 "_clock", "_file_at", "_lock")

    def __init__(self, path: str | None, limit: int = TAIL_BYTES, file_after_seconds: float = FILE_AFTER_SECONDS,
                 clock: Callable[[], float] = time.monotonic, started: float | None = None):
        self._path, self.limit = path, limit
        self._attempt: tuple[str | os.PathLike[str], int, str] | None = None  # (log folder, row, token)
        self.written = 0  # bytes so far
        self.file_error: str | None = None  # why the file could not be written (the tail still is)
        self._tail = bytearray()  # everything, until the file is opened; then the last bytes
        self._file: IO[bytes] | None = None
        self._opened = False
        self._closed = False
        self._clock = clock
        self._file_at = (clock() if started is None else started) + file_after_seconds
        self._lock = threading.Lock()

    @classmethod
    def for_attempt(cls, folder: str | os.PathLike[str], row_id: int, token: str,
                    started: float | None = None) -> Capture:
        """The capture of one attempt, its file `attempt_log_path` (worked out only if needed);
        `started`: when the attempt started, by the monotonic clock (default: now)."""
        capture = cls(None, started=started)
        capture._attempt = (folder, row_id, token)
        return capture

    def belongs_to(self) -> tuple[str, int] | None:
        """(claim token, row) of the attempt made by `for_attempt`."""
        return None if self._attempt is None else (self._attempt[2], self._attempt[1])

    @property
    def path(self) -> str:
        if self._path is None:
            assert self._attempt is not None
            self._path = attempt_log_path(*self._attempt)
        return self._path

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._closed:
                return
            self.written += len(data)
            self._tail += data
            if self._file is not None:
                self._to_file(data)
            elif not self._opened and (self.written > self.limit or self._clock() >= self._file_at):
                self._open()
            if self._opened and len(self._tail) > 2 * self.limit:  # trim now and then, not on every write
                del self._tail[: len(self._tail) - self.limit]

    def _open(self) -> None:
        self._opened = True
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # unbuffered: `pyexp logs --follow` sees it at once
        except OSError as e:
            self.file_error = str(e)
            return
        self._to_file(bytes(self._tail))  # all of it so far: nothing was trimmed before

    def _to_file(self, data: bytes) -> None:
        try:
            assert self._file is not None
            self._file.write(data)
        except OSError as e:  # a full disk: keep the tail, stop writing the file
            self.file_error = str(e)
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def tail(self) -> str:
        with self._lock:
            return self._tail_text()

    def _tail_text(self) -> str:
        text = decode_tail(bytes(self._tail[-self.limit:]), cut=self.written > self.limit)
        if self.file_error is None:
            return text
        kept = min(self.written, self.limit)
        return lost_output_note(self.path, self.file_error, self.written, kept) + text

    def snapshot(self) -> tuple[int, str | None, str]:
        """(bytes so far, the file or None when the tail is the whole output, the tail) for
        the attempts table. A file that could not be written is named all the same: the
        tail is not the whole output then, and `pyexp logs` says the file is not readable.

        An attempt past FILE_AFTER_SECONDS that printed gets its file here if no later print
        made it: the heartbeat asks every beat, so a long attempt that printed a line and
        went quiet has the file `pyexp logs --follow` names, as promised, not only the tail."""
        with self._lock:
            if self.written and not self._opened and self._clock() >= self._file_at:
                self._open()
                if self._closed:  # the attempt's last snapshot: nothing more will be written
                    self._close_file()
            return self.written, self.path if self._opened else None, self._tail_text()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close_file()


_current: Capture | None = None  # the running attempt's, while the tee is on (made at its first write)
_attempt: tuple[str | os.PathLike[str], int, str, float] | None = None  # the running attempt, its capture not made yet
_making = threading.Lock()  # one capture per attempt, whichever thread prints first


def _made() -> Capture | None:
    """The running attempt's capture, made now if nothing made it yet."""
    global _current
    with _making:
        if _current is None and _attempt is not None:
            _current = Capture.for_attempt(*_attempt)
        return _current


class _Tee:
    """sys.stdout or sys.stderr during an attempt: writes go on to the real stream and into
    the capture of the attempt running now, not the one it was made for: a logging handler
    made during attempt 1 keeps this object for the worker's life, and what it writes in
    attempt 2 is attempt 2's (between attempts, only the real stream gets it). Anything else
    (buffer, name, ...) is the real stream's. A plain class, not an io.TextIOBase: that one
    costs microseconds to make and flushes the stream when dropped, and a no-op experiment
    makes two of these."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, s: str) -> int:
        if self._stream is not None:
            try:
                self._stream.write(s)
            except OSError:  # the worker's log on a full disk: the attempt's capture still gets it
                pass
        capture = _current
        if capture is None and _attempt is not None:
            capture = _made()
        if capture is not None:
            capture.write(s.encode("utf-8", "backslashreplace"))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except OSError:
                pass

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._stream is not None and self._stream.isatty())

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("fileno")
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:
        return getattr(self._stream, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# (stdout, its tee, stderr, its tee) of the last attempt: the next attempt over the same
# streams reuses the two tees instead of making two objects (they hold no attempt's state).
_tees: tuple[Any, _Tee, Any, _Tee] | None = None


def tee_start(capture: Capture | None = None,
              attempt: tuple[str | os.PathLike[str], int, str, float] | None = None) -> tuple[Any, Any]:
    """sys.stdout and sys.stderr tee'd into `capture`, or into the capture of `attempt`
    (log folder, row, claim token, start) made at its first write (`isolation: none`): a
    Capture costs 0.6 us to make and close, a no-op experiment's 2%, and most print nothing.
    Returns what the streams were, for `tee_stop`. Functions rather than a context manager:
    no object per attempt."""
    global _current, _attempt, _tees
    saved = out, err = sys.stdout, sys.stderr
    tees = _tees
    if tees is None or tees[0] is not out or tees[2] is not err:
        tees = _tees = (out, _Tee(out), err, _Tee(err))
    sys.stdout, sys.stderr = tees[1], tees[3]
    _current, _attempt = capture, attempt
    return saved


def tee_stop(saved: tuple[Any, Any]) -> Capture | None:
    """Undo `tee_start`; the attempt's capture, if it was given or something was printed."""
    global _current, _attempt
    sys.stdout, sys.stderr = saved
    with _making:
        capture, _current, _attempt = _current, None, None
    return capture


def running() -> Capture | None:
    """The capture of the attempt running in this process now, if it printed (the heartbeat
    reports its output so far)."""
    return _current


class Tee:
    """`with Tee(capture):` the in-process capture of one attempt (`isolation: none`)."""

    __slots__ = ("capture", "_saved")

    def __init__(self, capture: Capture):
        self.capture = capture
        self._saved: tuple[Any, Any] = (None, None)

    def __enter__(self) -> Capture:
        self._saved = tee_start(self.capture)
        return self.capture

    def __exit__(self, *exc: object) -> None:
        tee_stop(self._saved)


class Lossy:
    """A worker process's own sys.stdout or sys.stderr when they are its log file (a SLURM
    log, `launch --local`'s): on a full disk a write raises, in the experiment's own print
    or in the worker's start line, and would end the experiment or the worker. Here it
    costs the line, which is counted for the worker's summary; nothing else changes."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.lost = 0  # characters not written
        self.error: str | None = None

    def write(self, s: str) -> int:
        try:
            return int(self._stream.write(s))
        except OSError as e:
            self.lost += len(s)
            self.error = e.strerror or str(e)
            return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            self.error = e.strerror or str(e)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def lossy_streams() -> tuple[Lossy, Lossy]:
    """sys.stdout and sys.stderr as Lossy streams (once per process)."""
    if not isinstance(sys.stdout, Lossy):
        sys.stdout = Lossy(sys.stdout)
    if not isinstance(sys.stderr, Lossy):
        sys.stderr = Lossy(sys.stderr)
    return sys.stdout, sys.stderr


def real_stream(stream: Any) -> Any:
    """The stream behind an attempt's tee: where the worker's own log lines go, so they never
    land in an experiment's output."""
    return stream._stream if isinstance(stream, _Tee) else stream


def worker_log_handler(log: logging.Logger) -> logging.Handler | None:
    """The worker's log lines (its heartbeat's too) when nobody configured logging: to the
    stderr of now, before an attempt swaps sys.stderr for its tee, not logging's last resort
    (which writes to the sys.stderr of the moment: the experiment's captured output)."""
    if log.hasHandlers():
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)  # as the last resort would
    log.addHandler(handler)
    return handler


def echo(stream: Any, data: bytes, decoder: Any = None) -> None:
    """Pass bytes a child printed on to the worker's own stream (the terminal, the SLURM log).
    A text-only stream gets them through `decoder` (one per stream, kept by the caller), so a
    character split between two chunks is not garbled."""
    if stream is None:
        return
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()
            buffer.write(data)
            buffer.flush()
        else:
            decoder = decoder or codecs.getincrementaldecoder("utf-8")("replace")
            stream.write(decoder.decode(data))
            stream.flush()
    except (OSError, ValueError):
        pass  # a closed terminal must not end the attempt

