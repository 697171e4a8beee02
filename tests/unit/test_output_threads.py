"""The capture against what experiments do to it: threads that print at once, logging
handlers that outlive their attempt, a child's output split inside a character."""

from __future__ import annotations

import codecs
import io
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from test_worker import ME, setup

from pyexperimenter.worker import Worker
from pyexperimenter.worker.output import Capture, Tee, echo


def test_writes_after_close_belong_to_no_attempt(tmp_path: Path) -> None:
    capture = Capture(str(tmp_path / "a.log"), limit=10)
    capture.write(b"0123456789abc")  # the file is open
    capture.close()
    capture.write(b"later")
    assert capture.snapshot() == (13, str(tmp_path / "a.log"), "3456789abc")
    assert (tmp_path / "a.log").read_bytes() == b"0123456789abc"


def test_a_handler_made_in_one_attempt_writes_into_the_running_one(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first, second = Capture(str(tmp_path / "1.log")), Capture(str(tmp_path / "2.log"))
    logger = logging.getLogger("an-experiments-own")
    logger.propagate = False
    with Tee(first):
        handler = logging.StreamHandler()  # binds the tee of attempt 1 (sys.stderr now)
        logger.addHandler(handler)
        logger.warning("in one")
    first.close()
    try:
        logger.warning("between")
        with Tee(second):
            logger.warning("in two")
        second.close()
    finally:
        logger.removeHandler(handler)
    assert first.tail() == "in one\n"
    assert second.tail() == "in two\n"
    assert capsys.readouterr().err == "in one\nbetween\nin two\n"  # the terminal gets all of it


def test_threads_printing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    capture = Capture(str(path), limit=4096)
    line = b"x" * 99 + b"\n"
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        def prints() -> None:
            for _ in range(2000):
                capture.write(line)

        threads = [threading.Thread(target=prints) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    capture.close()
    assert capture.written == 8 * 2000 * 100
    assert path.read_bytes() == line * (8 * 2000)  # once each, whole lines: no tail written twice


def test_a_character_split_between_two_chunks_reaches_a_text_stream_whole() -> None:
    stream = io.StringIO()  # no .buffer (a notebook's, a test runner's)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    data = "é€".encode()
    for byte in data:
        echo(stream, bytes([byte]), decoder)
    assert stream.getvalue() == "é€"


def test_the_workers_own_log_lines_stay_out_of_the_output(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    log = logging.getLogger("pyexperimenter")

    def logs(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        print("mine")
        log.warning("the worker's (the heartbeat's, say)")

    log.propagate = False  # no handler anywhere: logging's last resort writes to sys.stderr now
    try:
        Worker(config, logs, store=store, identity=ME, deadline=None, max_experiments=1).run()
    finally:
        log.propagate = True
    [attempt] = store.rows(store.schema.attempts_table)
    assert attempt["log_tail"] == "mine\n"
