"""`pyexp logs`: what a finished, a failed and a running experiment printed, on SQLite and
MariaDB, in the worker's process and in an isolated child (where output written straight
to file descriptor 1, as C code does, is captured too)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.configs import ConfigMaker
from support.workers import wait_for, worker_env

from pyexperimenter import Experimenter
from pyexperimenter.worker import Worker


def reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def pyexp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyexperimenter.cli", *args], env=worker_env(),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_logs_of_done_failed_and_running_experiments(make_config: ConfigMaker, tmp_path: Path,
                                                         isolation: str) -> None:
    go = tmp_path / "go"
    path = make_config(experiment={"isolation": isolation, "max_attempts": 1}, parameters={"x": [0, 1, 2]},
                       results={"value": "DOUBLE"}, custom={"go": str(go)})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    ids = dict(zip(exp.get_table()["x"], exp.get_table()["ID"]))
    worker = subprocess.Popen([sys.executable, "-m", "pyexperimenter.cli", "run", str(path), "--function",
                               "experiments:chatty"], env=worker_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for("x=2 to print", lambda: "out 2" in pyexp("logs", str(path), str(ids[2])).stdout, 30)
        running = pyexp("logs", str(path), str(ids[2]))
        assert running.returncode == 0, running.stderr
        assert running.stdout.splitlines()[0].startswith(f"== experiment {ids[2]}, attempt 1 of 1: running, worker ")
        assert "out 2 ü" in running.stdout and "err 2" in running.stdout and "finished\n" not in running.stdout
        interrupted = subprocess.Popen([sys.executable, "-m", "pyexperimenter.cli", "logs", str(path), str(ids[2]),
                                        "--follow"], env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
        try:
            assert interrupted.stdout is not None
            assert "out 2 ü" in interrupted.stdout.readline() + interrupted.stdout.readline()
            interrupted.send_signal(signal.SIGINT)  # Ctrl-C: ends cleanly, the attempt goes on
            _, err = interrupted.communicate(timeout=30)
        finally:
            reap(interrupted)
        assert interrupted.returncode == 0 and "Traceback" not in err and "attempt 1: running" in err, err
        follow = subprocess.Popen([sys.executable, "-m", "pyexperimenter.cli", "logs", str(path), str(ids[2]),
                                   "--follow"], env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            assert follow.stdout is not None
            seen = [follow.stdout.readline() for _ in range(2)]  # the header, then what it printed so far
            go.write_text("")
            out, err = follow.communicate(timeout=30)
        finally:
            reap(follow)
        assert follow.returncode == 0, err
        out = "".join(seen) + out
        assert out.count("out 2 ü") == 1 and out.rstrip().endswith("finished")
        assert "attempt 1: done" in err
        worker_out, worker_err = worker.communicate(timeout=30)
    finally:
        reap(worker)
    assert "out 0 ü" in worker_out and "err 0" in worker_err  # tee'd: the terminal still shows it
    done = pyexp("logs", str(path), str(ids[0]))
    failed = pyexp("logs", str(path), str(ids[1]))
    assert ": done, worker " in done.stdout and ": failed, worker " in failed.stdout
    # The failure's traceback: in the attempt's output and on the worker's stderr (its log), after what it printed.
    assert failed.stdout.rstrip().endswith("ValueError: chatty failed"), failed.stdout[-500:]
    assert "Traceback (most recent call last)" in failed.stdout
    assert "ValueError: chatty failed" in worker_err and "ValueError" not in done.stdout
    for x, shown in ((0, done), (1, failed)):
        lines = shown.stdout.splitlines()[1:]  # two pipes in a child: stdout and stderr in arrival order
        assert f"out {x} ü" in lines and f"err {x}" in lines
        assert (f"fd {x}" in lines) == (isolation == "process")  # descriptor level: the child only
    assert "stored with the attempt (no file)" in done.stdout.splitlines()[0]  # short output: no file needed
    # The tail stored with the attempt stands in when the file is not readable here.
    log = exp.get_logs(ids[1])
    assert log.source == "file" and log.outcome == "failed" and "out 1 ü" in log.text
    Path(log.log_file).unlink()
    again = exp.get_logs(ids[1])
    assert again.source == "tail" and "not readable here" in (again.note or "")
    assert len(again.text.encode()) == 4096 and log.text.endswith(again.text) and "out 1" not in again.text
    exp.close()


def test_bad_ids_and_attempts_are_one_line_and_exit_2(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [0]}, results={"value": "DOUBLE"})
    Experimenter(path).fill_table_from_config()
    for args, message in ((["99"], "ID 99: no such experiment"), (["1"], "has not been run yet"),
                          (["1", "--attempt", "2"], "has not been run yet")):
        out = pyexp("logs", str(path), *args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


def test_an_attempts_table_of_an_earlier_version_gains_the_output_columns(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [0, 1]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store: Any = exp.store
    for column in ("log_file", "log_tail"):  # as a table made before them looks
        drop = f"ALTER TABLE {store.schema.attempts_table} DROP COLUMN {column}"
        store.session.transaction(lambda cur, drop=drop: store.session.execute(cur, drop))
    version = f"UPDATE pyexp_schema SET version = 1 WHERE table_name = '{store.schema.name}'"  # as that version made it
    store.session.transaction(lambda cur: store.session.execute(cur, version))
    exp.close()
    exp = Experimenter(path)

    def prints(parameters: dict, rp: object, custom: dict) -> None:
        print("hello from", parameters["x"])

    Worker(exp.config, prints).run()
    assert {a["log_tail"] for a in exp.store.rows(exp.store.schema.attempts_table)} == {"hello from 0\n", "hello from 1\n"}
    log = exp.get_logs(1)
    assert log.source == "stored" and log.text == "hello from 0\n" and log.outcome == "done"
    exp.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_follow_names_a_file_that_appears(make_config: ConfigMaker, tmp_path: Path) -> None:
    """An attempt of a few seconds that printed one short line at its start: its file is
    made within a heartbeat after its first second (docs/cli.md), not only at its next
    print; the file `--follow` names exists, and the header names it once the attempt is done."""
    path = make_config(experiment={"heartbeat_seconds": 0.5}, parameters={"x": [7]}, results={"value": "DOUBLE"},
                       custom={"sleep": 6})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    [row_id] = list(exp.get_table()["ID"])
    worker = subprocess.Popen([sys.executable, "-m", "pyexperimenter.cli", "run", str(path), "--function",
                               "experiments:talking"], env=worker_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the attempt to start", lambda: len(exp.get_attempts()) == 1, 30)
        follow = subprocess.Popen([sys.executable, "-m", "pyexperimenter.cli", "logs", str(path), str(row_id),
                                   "--follow"], env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        try:
            def running_file() -> str | None:
                lines = pyexp("logs", str(path), str(row_id)).stdout.splitlines()
                return lines[0] if lines and ": running, " in lines[0] and ", file " in lines[0] else None

            header = wait_for("a header naming a file while it runs (it runs 6 s)", running_file, 20)
            named = header.split(", file ")[-1]
            assert Path(named).read_text() == "talking 7 start\n"
            out, err = follow.communicate(timeout=60)
        finally:
            reap(follow)
        assert "talking 7 start\ntalking 7 end\n" in out and "attempt 1: done" in err, out + err
        followed = out.splitlines()[0]
        assert ", file " not in followed or Path(followed.split(", file ")[-1]).exists(), followed
        worker.communicate(timeout=30)
    finally:
        reap(worker)
    done = pyexp("logs", str(path), str(row_id))
    assert ": done, " in done.stdout and done.stdout.splitlines()[0].endswith(f", file {named}"), done.stdout
    assert Path(named).read_text() == "talking 7 start\ntalking 7 end\n"
    exp.close()
