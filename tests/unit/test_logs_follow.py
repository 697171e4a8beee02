"""`pyexp logs` (results/logs.py) over a SQLite store in a temporary folder: what `show` writes where, and `--follow`
through the handover from the stored output to the file, and a file not readable here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from test_worker import ME, setup

from pyexperimenter.results import logs


def later(seconds: float, *steps: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        for step in steps:
            time.sleep(seconds)
            step()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_follow_picks_the_file_up_after_the_stored_output_even_past_invalid_bytes(tmp_path: Path) -> None:
    _, store = setup(tmp_path)
    [claim] = store.claim(ME, 1)
    store.attempt_output(claim.token, claim.id, None, "a\ufffdb\n")  # b"a\xffb\n" printed: 4 bytes, not 6
    path = tmp_path / "attempt.log"

    def outgrows_the_tail() -> None:
        path.write_bytes(b"a\xffb\nmore\n")
        store.attempt_output(claim.token, claim.id, str(path), "a\ufffdb\nmore\n")

    thread = later(0.3, outgrows_the_tail, lambda: store.finish(claim.token, [(claim.id, {})]))
    out: list[str] = []
    ended = logs.follow(store, tmp_path, claim.id, None, out.append, poll_seconds=0.05)
    thread.join()
    assert "".join(out) == "a\ufffdb\nmore\n" and ended.outcome == "done"


def test_follow_of_a_file_on_another_machine_ends_with_a_note_and_the_stored_tail(tmp_path: Path) -> None:
    _, store = setup(tmp_path)
    [claim] = store.claim(ME, 1)
    store.attempt_output(claim.token, claim.id, "/elsewhere/attempt.log", "the last bit\n")
    thread = later(0.2, lambda: store.finish(claim.token, [(claim.id, {})]))
    out: list[str] = []
    notes: list[str] = []
    logs.follow(store, tmp_path, claim.id, None, out.append, poll_seconds=0.05, warn=notes.append)
    thread.join()
    assert "".join(out) == "the last bit\n"
    assert len(notes) == 1 and "/elsewhere/attempt.log is not readable here" in notes[0]


def test_show_streams_a_file_and_ends_the_last_line(tmp_path: Path) -> None:
    _, store = setup(tmp_path)
    [claim] = store.claim(ME, 1)
    path = tmp_path / "attempt.log"
    path.write_bytes(b"x" * (3 * logs.CHUNK) + "é".encode() + b"no newline")
    store.stage_output(claim.token, claim.id, str(path), "...")
    store.finish(claim.token, [(claim.id, {})])
    out: list[str] = []
    notes: list[str] = []
    shown = logs.show(store, tmp_path, claim.id, None, False, out.append, notes.append)
    assert out[0] == shown.header() + "\n" and shown.source == "file" and not notes
    assert "".join(out[1:]) == "x" * (3 * logs.CHUNK) + "éno newline\n"
    assert len(out) > 3  # in chunks, not one string of the whole file
