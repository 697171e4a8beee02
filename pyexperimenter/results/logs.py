"""`pyexp logs` and `Experimenter.get_logs`: what one attempt of an experiment printed.

Attempts are numbered 1, 2, ... in the order the experiment was claimed (the attempts
table's order), released ones included: `--attempt K` is the K-th claim, the default the
latest. The text comes from the attempt's log file (worker/output.py writes it; its path is
stored with the attempt, or derived from the log folder and the claim token for a running
attempt whose path is not stored yet). When that file is not readable here (another
machine's disk), the last few KB stored with the attempt stand in, with a note saying so.
"""

from __future__ import annotations

import codecs
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError
from ..status import Outcome
from ..store import Store

CHUNK = 65536

OUTPUT_FOLDER = "output"  # under the log folder (ExperimentConfig.log_folder)


def attempt_log_path(folder: str | os.PathLike[str], row_id: int, token: str) -> str:
    """The file of one attempt. Its reader owns the scheme: the worker (worker/output.py)
    writes where this says, and `pyexp logs` finds the file the same way."""
    return os.path.join(os.fspath(folder), OUTPUT_FOLDER, f"{row_id}-{token}.log")


LOST_MARK = "[pyexp: output lost: "


def lost_output_note(path: str, error: str, written: int, kept: int) -> str:
    """The first line of a stored tail whose file could not be written (a full disk): the
    file then holds a part of the output or nothing, and this says so wherever the tail is
    read (`pyexp logs`, the attempts table)."""
    return f"{LOST_MARK}{path} could not be written ({error}); {written} bytes printed, the last {kept} kept here]\n"


def split_lost_note(tail: str | None) -> tuple[str | None, str]:
    """(the note without its brackets, or None; the output) of a stored tail."""
    if not tail or not tail.startswith(LOST_MARK):
        return None, tail or ""
    note, _, text = tail.partition("]\n")
    return note[len("[pyexp: "):], text



@dataclass(frozen=True)
class AttemptLog:
    """One attempt's output and where it came from (`source`): its `file`; `stored` with the
    attempt (short output, kept whole there, no file); the stored `tail` of a file not
    readable here; or `none`."""

    experiment_id: int
    attempt: int  # 1 = the first claim of the experiment
    attempts: int  # how many claims it has had
    outcome: str
    worker: str | None
    machine: str | None
    log_file: str  # the file read, or the one the attempt would have written
    text: str
    source: str
    note: str | None = None

    @property
    def running(self) -> bool:
        return self.outcome == Outcome.RUNNING.value

    def header(self) -> str:
        where = "stored with the attempt (no file)" if self.source == "stored" else f"file {self.log_file}"
        return (f"== experiment {self.experiment_id}, attempt {self.attempt} of {self.attempts}: {self.outcome}, "
                f"worker {self.worker or '-'} on {self.machine or '-'}, {where}")


def attempt_rows(store: Store, experiment_id: int) -> list[dict[str, Any]]:
    """The attempts of one experiment in claim order; InputError when there is no such ID."""
    rows = store.rows(store.schema.attempts_table, where={"experiment_id": experiment_id})
    if not rows and not store.rows(where={"ID": experiment_id}):
        raise InputError(f"ID {experiment_id}: no such experiment in table {store.schema.name}")
    return rows


def _pick(store: Store, experiment_id: int, attempt: int | None) -> tuple[int, int, dict[str, Any]]:
    rows = attempt_rows(store, experiment_id)
    if not rows:
        raise InputError(f"ID {experiment_id}: the experiment has not been run yet (no attempt)")
    number = len(rows) if attempt is None else attempt
    if not 1 <= number <= len(rows):
        raise InputError(f"--attempt: expected 1 to {len(rows)} for experiment {experiment_id}, got {attempt}")
    return number, len(rows), rows[number - 1]


def _path(row: dict[str, Any], folder: str | os.PathLike[str]) -> str:
    return str(row.get("log_file") or attempt_log_path(folder, int(row["experiment_id"]), str(row["claim_token"])))


def read_attempt(store: Store, folder: str | os.PathLike[str], experiment_id: int,
                 attempt: int | None = None, with_text: bool = True) -> AttemptLog:
    """The output of one attempt (the latest by default): from its file if readable here;
    else what is stored with the attempt, which is the whole output when no file was needed
    (`log_file` empty), and its last few KB otherwise. Without `with_text`, a readable file
    is only named (`show` streams it)."""
    number, count, row = _pick(store, experiment_id, attempt)
    path, tail = _path(row, folder), row.get("log_tail")
    running = row["outcome"] == Outcome.RUNNING.value
    found = AttemptLog(experiment_id, number, count, str(row["outcome"]), row.get("worker"), row.get("machine"),
                       path, text="", source="none",
                       note="nothing printed yet, or not since its last heartbeat" if running else "it printed nothing")
    lost, kept = split_lost_note(tail)
    if lost is not None:  # the file is partial or empty: the stored tail is the most there is
        return replace(found, text=kept, source="tail", note=lost)
    try:
        with open(path, "rb") as f:
            text = _read_text(f) if with_text else ""
        return replace(found, text=text, source="file", note=None)
    except OSError:
        pass
    if tail and not row.get("log_file"):  # short output: kept whole with the attempt, no file needed
        return replace(found, text=tail, source="stored", note=None)
    if tail:
        return replace(found, text=tail, source="tail", note=_unreadable(path, tail))
    return found


def _unreadable(path: str, tail: str) -> str:
    return f"{path} is not readable here; showing the last {len(tail.encode())} bytes stored with the attempt"


def _read_text(f: Any) -> str:
    decoder, parts = codecs.getincrementaldecoder("utf-8")("replace"), []
    while data := f.read(CHUNK):
        parts.append(decoder.decode(data))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def show(store: Store, folder: str | os.PathLike[str], experiment_id: int, attempt: int | None, follow_it: bool,
         write: Callable[[str], None], warn: Callable[[str], None]) -> AttemptLog:
    """`pyexp logs`: the header, then the output (a file streamed in chunks, never read
    whole), and with `follow_it` what a running attempt prints next, until it ends.
    `write` gets the output, `warn` the notes (stderr)."""
    shown = read_attempt(store, folder, experiment_id, attempt, with_text=False)
    write(shown.header() + "\n")
    if shown.note:
        warn(f"({shown.note})")
    if follow_it and shown.running:
        ended = follow(store, folder, experiment_id, shown.attempt, write, warn=warn)
        warn(f"== attempt {ended.attempt}: {ended.outcome}")
        return ended
    text = shown.text
    if shown.source == "file":
        last = _copy_new(shown.log_file, 0, codecs.getincrementaldecoder("utf-8")("replace"), write, ends=True)[1]
    else:
        write(text)
        last = text[-1:]
    if last and last != "\n":
        write("\n")
    return shown


def follow(store: Store, folder: str | os.PathLike[str], experiment_id: int, attempt: int | None,
           write: Callable[[str], None], poll_seconds: float = 0.5,
           warn: Callable[[str], None] | None = None) -> AttemptLog:
    """Write the attempt's output as it grows, until the attempt ends (its outcome in the
    database is no longer `running`) or Ctrl-C; returns the attempt as last seen. Short
    output lives in the attempts row until it outgrows it (a file takes over from there,
    starting with the same bytes): both are followed, the row by characters shown, and the
    file, once readable, from the first character not shown yet (a byte offset would be
    off wherever invalid bytes were stored as U+FFFD). A file never readable here (another
    machine's disk) ends with a note and the tail stored with the attempt."""
    number, _, row = _pick(store, experiment_id, attempt)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    offset = -1  # bytes of the file written; -1 while it was never readable
    chars = 0  # characters of the stored output written
    try:
        while True:
            running = row["outcome"] == Outcome.RUNNING.value
            got = _copy_new(_path(row, folder), max(offset, 0), decoder, write, skip=chars if offset < 0 else 0)[0]
            offset = offset if got is None else got
            stored = row.get("log_tail") or ""
            if offset < 0 and not row.get("log_file") and len(stored) > chars:
                write(stored[chars:])
                chars = len(stored)
            if not running:
                write(decoder.decode(b"", final=True))
                lost = split_lost_note(row.get("log_tail"))[0]
                if lost is not None:
                    (warn or write)(f"({lost})")
                if offset < 0 and row.get("log_file") and row.get("log_tail"):  # its stored tail instead
                    (warn or write)(f"({_unreadable(_path(row, folder), row['log_tail'])})")
                    write(row["log_tail"])
                return read_attempt(store, folder, experiment_id, number, with_text=False)
            time.sleep(poll_seconds)
            row = _pick(store, experiment_id, number)[2]
    except KeyboardInterrupt:
        return read_attempt(store, folder, experiment_id, number, with_text=False)


def _copy_new(path: str, offset: int, decoder: Any, write: Callable[[str], None], skip: int = 0,
              ends: bool = False) -> tuple[int | None, str]:
    """Write what the file gained since byte `offset`, leaving out its first `skip`
    characters (shown already); the new offset (None when the file is not readable) and
    the last character written. `ends`: the file is complete, flush the decoder."""
    last = ""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            while True:
                data = f.read(CHUNK)
                offset += len(data)
                text = decoder.decode(data, final=ends and not data)
                if skip:
                    text, skip = text[skip:], max(0, skip - len(text))
                if text:
                    write(text)
                    last = text[-1]
                if not data:
                    break
    except OSError:
        return None, last
    return offset, last
