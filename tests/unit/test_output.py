"""The capture of what an experiment prints (worker/output.py), its tail and tee, and how a
stop signal is labelled (time_limit, preempted, released), on a SQLite store in a temporary folder."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_worker import ME, setup

from pyexperimenter.results.logs import attempt_log_path
from pyexperimenter.worker import Worker
from pyexperimenter.worker.output import Capture, Tee, decode_tail, running, tee_start, tee_stop


def test_a_tail_never_starts_or_ends_inside_a_character() -> None:
    text = "é" * 10  # two bytes each
    data = text.encode()
    assert decode_tail(data[1:]) == "é" * 9  # cut inside the first: its last byte dropped
    assert decode_tail(data[:-1], cut=False) == "é" * 9  # still being written: the half one left out
    assert decode_tail(b"ok \xff\n", cut=False) == "ok \ufffd\n"  # invalid bytes do not raise


def test_short_output_needs_no_file(tmp_path: Path) -> None:
    capture = Capture(attempt_log_path(tmp_path, 7, "tok"), limit=100)
    assert capture.snapshot() == (0, None, "")
    capture.write("é\n".encode() * 33)  # 99 bytes
    capture.close()
    assert capture.snapshot() == (99, None, "é\n" * 33)  # no file: the tail is the whole output
    assert not (tmp_path / "output").exists()


def test_a_long_running_attempt_gets_its_file_at_its_next_write(tmp_path: Path) -> None:
    now = [100.0]
    capture = Capture(str(tmp_path / "a.log"), file_after_seconds=0.2, clock=lambda: now[0])
    capture.write(b"early\n")
    now[0] += 0.19
    capture.write(b"still\n")
    assert not (tmp_path / "a.log").exists()
    now[0] += 0.01
    capture.write(b"late\n")
    assert (tmp_path / "a.log").read_bytes() == b"early\nstill\nlate\n"  # from the first byte on
    capture.close()
    assert capture.snapshot()[1] == str(tmp_path / "a.log")


def test_capture_keeps_a_bounded_tail_and_streams_the_whole_to_its_file(tmp_path: Path) -> None:
    capture = Capture(attempt_log_path(tmp_path, 7, "tok"), limit=100)
    for i in range(1000):
        capture.write(f"line {i} ä\n".encode())
    capture.close()
    written, path, tail = capture.snapshot()
    assert path == str(tmp_path / "output" / "7-tok.log") and written == Path(path).stat().st_size
    assert len(capture._tail) <= 200 and len(tail.encode()) <= 100
    assert tail.endswith("line 999 ä\n") and "line 990" not in tail
    assert Path(path).read_text().startswith("line 0 ä\nline 1 ä\n")


def test_tee_passes_output_on_and_restores_the_streams(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = Capture(str(tmp_path / "out.log"))
    before = (sys.stdout, sys.stderr)
    with Tee(capture):
        print("to stdout")
        print("to stderr", file=sys.stderr)
    assert (sys.stdout, sys.stderr) == before
    out = capsys.readouterr()
    assert out.out == "to stdout\n" and out.err == "to stderr\n"  # still shown
    assert capture.tail() == "to stdout\nto stderr\n"  # interleaved as written


def test_an_attempt_gets_its_capture_at_its_first_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In the worker's process the capture is made when the attempt first prints: an attempt
    that prints nothing makes none, one that does gets one that knows its attempt and its
    start (the file comes FILE_AFTER_SECONDS after the start, not after the first print)."""
    saved = tee_start(None, (tmp_path, 3, "tok", time.monotonic()))
    assert running() is None
    assert tee_stop(saved) is None
    saved = tee_start(None, (tmp_path, 4, "tok2", time.monotonic() - 5.0))  # started 5 s ago
    try:
        assert running() is None
        print("late")
        capture = running()
        assert capture is not None and capture.belongs_to() == ("tok2", 4)
    finally:
        ended = tee_stop(saved)
    assert ended is capture and running() is None
    print("between attempts")  # into no attempt
    written, log_file, tail = capture.snapshot()
    assert (written, tail) == (5, "late\n")
    assert log_file == attempt_log_path(tmp_path, 4, "tok2")  # past FILE_AFTER_SECONDS since its start
    capture.close()
    assert capsys.readouterr().out == "late\nbetween attempts\n"


def test_the_worker_stores_each_attempts_output_with_it(tmp_path: Path) -> None:
    config, store = setup(tmp_path, max_attempts=2)

    def prints(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        if parameters["x"] == 0:
            return {"value": 0.0}  # prints nothing: no file, no tail
        print(f"row {rp.experiment_id} attempt {rp.attempt}")
        if parameters["x"] == 4:
            print("x" * 5000)  # more than the tail: a file holds the whole
        if parameters["x"] == 1:
            raise ValueError("bad")
        return {"value": 1.0}

    Worker(config, prints, store=store, identity=ME, deadline=None).run()
    attempts = store.rows(store.schema.attempts_table)
    silent = [a for a in attempts if a["log_tail"] is None]
    assert len(silent) == 2 and all(a["log_file"] is None for a in silent)
    printed = [a for a in attempts if a["log_tail"] is not None]
    assert len(printed) == 8 + 2  # x=1 failed twice: both attempts keep their own output
    for a in printed:
        line = f"row {a['experiment_id']} attempt {a['attempt']}\n"
        if a["log_file"] is None and a["outcome"] == "failed":  # its traceback follows what it printed
            assert a["log_tail"].startswith(line + "Traceback (most recent call last):\n")
            assert a["log_tail"].endswith("ValueError: bad\n")
        elif a["log_file"] is None:  # short: kept whole with the attempt
            assert a["log_tail"] == line
        else:
            assert a["log_file"] == attempt_log_path(config.log_folder(), a["experiment_id"], a["claim_token"])
            assert Path(a["log_file"]).read_text() == line + "x" * 5000 + "\n"
            assert a["log_tail"] == ("x" * 5000 + "\n")[-4096:]
    assert sum(a["log_file"] is not None for a in printed) == 2  # x=4: two rows (y = a, b)
    assert {a["outcome"] for a in printed} == {"done", "failed"}


@pytest.mark.parametrize("signum, to_deadline, expected", [
    (signal.SIGUSR2, 30, "time_limit"),  # SLURM's warning at the deadline
    (signal.SIGTERM, 30, "time_limit"),  # the limit itself
    (signal.SIGTERM, 3600, "preempted"),  # an hour early: the scheduler took the allocation back
    (signal.SIGUSR2, 3600, "released"),  # an hour early and no time limit: someone stopped it
    (signal.SIGINT, 30, "released"),  # Ctrl-C is never the scheduler
    (signal.SIGUSR1, 30, "time_limit"),  # Grid Engine's soft limit s_rt, set at the deadline
    (signal.SIGUSR1, 3600, "released"),  # an hour early: a suspension's warning, or a soft limit of one's own
])
def test_a_stop_signal_is_labelled_by_when_it_comes(tmp_path: Path, signum: int, to_deadline: float,
                                                   expected: str) -> None:
    config, store = setup(tmp_path)

    def stopped(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        print("working")
        os.kill(os.getpid(), signum)
        time.sleep(5)

    # The deadline lies beyond the loop's own margin, so the row is claimed and runs.
    stats = Worker(config, stopped, store=store, identity=ME, deadline=time.time() + to_deadline).run()
    assert stats.released == 1
    [attempt] = store.rows(store.schema.attempts_table)
    assert attempt["outcome"] == expected, attempt["error"]
    assert attempt["log_tail"] == "working\n"  # kept with a released attempt too
    [row] = store.rows(where={"ID": attempt["experiment_id"]})
    assert row["status"] == "created" and row["pyexp_attempts"] == 0  # none of them spends an attempt


def test_the_heartbeat_stores_a_running_attempts_output(tmp_path: Path) -> None:
    config, store = setup(tmp_path, heartbeat_seconds=0.1)
    seen: list[str | None] = []

    def waits_to_be_seen(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
        print(f"started {rp.experiment_id}")
        end = time.monotonic() + 3
        while time.monotonic() < end:
            [attempt] = [a for a in store.rows(store.schema.attempts_table) if a["outcome"] == "running"]
            if attempt["log_tail"]:
                break
            time.sleep(0.02)
        seen.append(attempt["log_tail"])

    Worker(config, waits_to_be_seen, store=store, identity=ME, deadline=None, max_experiments=2).run()
    assert seen == ["started 1\n", "started 2\n"]  # stored while running, each with its own attempt


def test_rows_left_because_the_allocation_ends_are_labelled_time_limit(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    worker = Worker(config, lambda *a: None, store=store, identity=ME, deadline=time.time() + 3600)
    assert worker._release_reason()[0].value == "released"  # no stop, no deadline near: someone else's reason
    worker._ran_out = True  # the loop's margin: the next row would not finish in time
    assert worker._release_reason()[0].value == "time_limit"


@pytest.mark.parametrize("scheduler, stop, to_deadline, requeue", [
    ("slurm", "SIGUSR2", 3600, True),  # SLURM's USR2 is the time limit's warning or a preemption's --signal
    ("slurm", "SIGTERM", 3600, False),  # a scancel
    ("slurm", "SIGTERM", 30, True),  # the limit itself
    ("sge", "SIGUSR2", 3600, False),  # a qdel sends USR2 too
    ("sge", "SIGUSR1", 3600, False),  # a suspension's warning
    ("sge", "SIGUSR1", 30, True),  # the soft limit s_rt, at the deadline
    ("sge", "SIGUSR2", 30, True),  # h_rt itself (too late to be run again, but the allocation's end)
    ("sge", "SIGINT", 30, False),
    ("sge", None, -1, True),  # the deadline passed between two experiments
])
def test_which_stops_end_the_allocation(tmp_path: Path, scheduler: str, stop: str | None, to_deadline: float,
                                        requeue: bool) -> None:
    """What decides whether a task requeues itself (worker/requeue.py): a stop that can only be
    the allocation's end; never a cancel by hand."""
    config, store = setup(tmp_path)
    me = dataclasses.replace(ME, scheduler=scheduler, array_job_id="7", array_task_id=1)
    worker = Worker(config, lambda *a: None, store=store, identity=me, deadline=time.time() + to_deadline)
    worker._stop = stop
    assert worker.stopped_by_allocation() is requeue


def test_output_that_cannot_be_staged_does_not_fail_the_experiment(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    config, store = setup(tmp_path)

    def broken(*args: Any) -> None:
        raise ConnectionError("the database went away")

    store.stage_output = broken  # type: ignore[method-assign]

    def prints(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
        print("something")
        return {"value": 1.0}

    stats = Worker(config, prints, store=store, identity=ME, deadline=None, max_experiments=1).run()
    assert (stats.done, stats.failed) == (1, 0)
    [attempt] = store.rows(store.schema.attempts_table)
    assert attempt["outcome"] == "done" and attempt["log_tail"] is None
    assert "its output was not kept: the database went away" in caplog.text
