"""`experiment.isolation: process`: a segfault, os._exit(3), a 2 GB allocation under a memory
limit and an endless sleep under `timeout_seconds: 2` each end one attempt with the right
outcome within 5 s, and the worker goes on with the next row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cluster_fns
import experiments
import pytest
from support.configs import ConfigMaker
from support.workers import worker_env

from pyexperimenter import Experimenter
from pyexperimenter.errors import ConfigError
from pyexperimenter.worker import Worker

EXPECTED = {0: "done", 1: "killed", 2: "exited", 3: "oom", 4: "timeout", 5: "failed", 6: "done"}


def test_each_misbehaviour_is_one_attempt_with_its_outcome(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(
        experiment={"isolation": "process", "timeout_seconds": 2, "memory_limit_mb": 1536, "max_attempts": 1},
        parameters={"x": {"start": 0, "stop": 7}},
        results={"value": "DOUBLE"},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    started = time.monotonic()
    stats = Worker(exp.config, cluster_fns.misbehave).run()
    took = time.monotonic() - started
    assert stats.executed == 7 and stats.done == 2 and stats.failed == 5
    # The endless sleep was ended by its 2 s timeout: a bound far below endless, and far enough
    # above 2 s that a machine running other work (load 30 on 2 cores was seen) still passes.
    assert took < 60, took
    table = exp.get_table().set_index("ID")
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    by_x = {int(table.loc[int(a["experiment_id"]), "x"]): a for a in attempts}
    assert {x: a["outcome"] for x, a in by_x.items()} == EXPECTED
    assert "SIGSEGV" in by_x[1]["error"] and "code 3" in by_x[2]["error"]
    assert "memory_limit_mb=1536" in by_x[3]["error"] and "timeout_seconds=2" in by_x[4]["error"]
    assert "ValueError: bad value" in by_x[5]["error"]
    for a in attempts:
        assert (a["end_date"] - a["start_date"]).total_seconds() < 30, a  # none ran on unbounded
    assert list(table.sort_values("x")["status"]) == ["done", "error", "error", "error", "error", "error", "done"]
    exp.close()


def test_results_written_from_the_child_are_fenced_like_any(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "process"}, parameters={"x": [1, 2]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()

    def writes(parameters: dict, rp: object, custom: dict) -> None:
        rp.process_results({"value": parameters["x"] * 10.0})  # type: ignore[attr-defined]

    Worker(exp.config, writes).run()
    assert sorted(exp.get_table()["value"]) == [10.0, 20.0]
    exp.close()


@pytest.mark.parametrize("key, value", [("timeout_seconds", 2), ("memory_limit_mb", 100)])
def test_limits_need_isolation(make_config: ConfigMaker, key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"experiment.{key}: needs experiment.isolation: process"):
        Experimenter(make_config(experiment={key: value}))


def test_spawn_runs_each_experiment_in_a_fresh_interpreter(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"isolation": "spawn", "max_attempts": 1}, parameters={"x": [0, 5]},
                       results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    stats = Worker(exp.config, cluster_fns.misbehave).run()
    assert stats.done == 1 and stats.failed == 1
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    assert sorted(a["outcome"] for a in attempts) == ["done", "failed"]
    exp.close()


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie is dead, only waiting for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_processes_an_isolated_experiment_started_end_with_its_attempt(make_config: ConfigMaker,
                                                                        tmp_path: Path) -> None:
    """`sleep 600` started by the experiment: gone once its attempt ended (returned, or
    timed out), and it did not inherit ignored stop signals from the isolated child."""
    record = tmp_path / "record.txt"
    path = make_config(experiment={"isolation": "process", "timeout_seconds": 3, "max_attempts": 1},
                       parameters={"x": [0, 1, 2]}, results={"value": "DOUBLE"},
                       custom={"record": str(record), "sleep": 600})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    try:
        started = time.monotonic()
        stats = Worker(exp.config, experiments.leaves_child).run()
        took = time.monotonic() - started
        lines = [line.split() for line in record.read_text().splitlines()]
        pids = [int(pid) for _, pid, _ in lines]
        assert stats.executed == 3 and stats.done == 2 and len(pids) == 3
        end = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < end:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "a process the experiment started outlived its attempt"
        for _, _, mask in lines:  # SIGTERM and SIGUSR2 reach what the experiment starts
            assert not int(mask, 16) & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGUSR2 - 1)), mask
        assert took < 30, f"waited for the leftover's pipes: {took:.1f}s"
    finally:
        _kill([int(line.split()[1]) for line in record.read_text().splitlines()] if record.exists() else [])
    exp.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_worker_reports_processes_its_experiments_left_behind(make_config: ConfigMaker, tmp_path: Path) -> None:
    """Without isolation the worker cannot end them (they are its own children, maybe on
    purpose), but it says so when it exits."""
    record = tmp_path / "record.txt"
    path = make_config(experiment={"function": "experiments:leaves_child"}, parameters={"x": [0, 2]},
                       results={"value": "DOUBLE"}, custom={"record": str(record)})
    Experimenter(path).fill_table_from_config()
    try:
        with open(tmp_path / "err.txt", "w") as err:  # a pipe would stay open as long as the sleeps
            done = subprocess.run([sys.executable, "-m", "pyexperimenter.cli", "run", str(path)], env=worker_env(),
                                  stdout=subprocess.DEVNULL, stderr=err, timeout=120)
        stderr = (tmp_path / "err.txt").read_text()
        pids = [int(line.split()[1]) for line in record.read_text().splitlines()]
        assert done.returncode == 0, stderr
        assert len(pids) == 2
        warning = next((line for line in stderr.splitlines() if "still running" in line), "")
        assert all(f"{pid} (sleep)" in warning for pid in pids), stderr
    finally:
        _kill([int(line.split()[1]) for line in record.read_text().splitlines()] if record.exists() else [])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_thread_an_experiment_left_does_not_hold_the_worker(make_config: ConfigMaker, tmp_path: Path) -> None:
    """A non-daemon thread printing on after its experiment returned: the worker process
    (what a SLURM task runs) says so and exits instead of waiting 600 s for it."""
    path = make_config(experiment={"function": "experiments:leaves_thread"}, parameters={"x": [0]},
                       results={"value": "DOUBLE"}, custom={"seconds": 600})
    Experimenter(path).fill_table_from_config()
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "pyexperimenter.worker", "--config", str(path), "--function",
                               "experiments:leaves_thread"], env=worker_env(), stdout=log, stderr=subprocess.STDOUT,
                              timeout=120)
    text = (tmp_path / "log.txt").read_text()
    assert done.returncode == 0, text
    assert "1 thread(s) started by experiments are still running (chatter-0)" in text, text
    assert "ran 1 experiment(s): done 1" in text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("to", ["worker", "group"])
def test_a_stop_signal_releases_an_isolated_experiment_and_ends_its_processes(make_config: ConfigMaker,
                                                                               tmp_path: Path, to: str) -> None:
    """SIGTERM to the worker alone, or to its whole process group (as Grid Engine and a
    terminal's Ctrl-C send them): the row goes back to `created` without spending an
    attempt, and what the isolated experiment started is gone with it."""
    record = tmp_path / "record.txt"
    path = make_config(experiment={"isolation": "process", "function": "experiments:leaves_child"},
                       parameters={"x": [1]}, results={"value": "DOUBLE"}, custom={"record": str(record), "sleep": 600})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    worker = subprocess.Popen([sys.executable, "-m", "pyexperimenter.worker", "--config", str(path), "--function",
                               "experiments:leaves_child"], env=worker_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    pids: list[int] = []
    try:
        end = time.monotonic() + 60
        while not (record.exists() and record.read_text().endswith("\n")):
            assert time.monotonic() < end and worker.poll() is None, "the experiment never started"
            time.sleep(0.1)
        pids = [int(line.split()[1]) for line in record.read_text().splitlines()]
        if to == "worker":
            worker.send_signal(signal.SIGTERM)
        else:
            os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 128 + signal.SIGTERM
        end = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < end:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)]
        row = exp.get_table().iloc[0]
        assert row["status"] == "created" and row["pyexp_attempts"] == 0
        assert list(exp.get_attempts()["outcome"]) == ["released"]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        _kill(pids)
    exp.close()
