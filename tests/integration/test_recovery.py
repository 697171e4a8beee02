"""Crash-proof execution with real worker processes, on SQLite and on MariaDB.

Workers are forked processes (or `pyexp run` subprocesses) that the tests kill with
SIGKILL, stop with SIGTERM/SIGINT/SIGUSR2 or leave running as zombies. Every execution
is recorded in a side file (tests/experiments.py `tracked`: "ID PID ATTEMPT start|end"),
so the assertions can tell a legitimate second run of a killed worker's row from a
duplicate execution, and which execution's result landed in the table.

Timing is small on purpose: heartbeats every 0.5 s, a run is lost after 2 s of silence.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import experiments
import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker
from support.workers import (
    Record,
    assert_each_result_written_once,
    attempts_by_row,
    count,
    join_all,
    spawn,
    stop_all,
    wait_for,
    worker_env,
)

from pyexperimenter import Experimenter
from pyexperimenter.cli import main as cli
from pyexperimenter.store import WorkerIdentity

FAST = {"heartbeat_seconds": 0.5, "stale_after_seconds": 2, "max_attempts": 3}


# ----------------------------------------------------------------------------- kill -9


@pytest.mark.slow
def signal_and_wait(proc: subprocess.Popen[str], signum: int) -> tuple[str, float]:
    """Signal a worker well inside its experiment; returns its stderr and seconds to exit."""
    time.sleep(0.3)  # past the heartbeat thread's start
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=10)
    return err, time.monotonic() - sent


def reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_killed_workers_are_recovered(make_config: ConfigMaker, tmp_path: Path) -> None:
    """6 workers on 150 experiments of 0.4 s; 3 killed with SIGKILL mid-run, 2 started."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment=FAST, parameters={"x": {"start": 0, "stop": 150}},
                       custom={"record": str(record.path), "sleep": 0.4})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 150
    config = exp.config
    exp.close()  # no connection of ours crosses the fork
    procs = spawn(config, experiments.tracked, 6)
    try:
        wait_for("a first wave of results", lambda: count(exp)["done"] >= 30, 60)
        victims = procs[:3]
        for p in victims:
            assert p.pid is not None
            os.kill(p.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        for p in victims:
            p.join(5)
        killed = {int(p.pid) for p in victims if p.pid is not None}
        time.sleep(0.2)  # a COMMIT already sent by a victim still lands
        stranded = {
            int(r["ID"]) for r in exp.store.rows(where={"status": "running"})
            if int(str(r["pyexp_worker"]).rsplit(":", 1)[1]) in killed
        }
        assert stranded, "no victim was killed mid-experiment"
        procs += spawn(config, experiments.tracked, 2)

        def stranded_recovered() -> bool:
            rows = {int(r["ID"]): r for r in exp.store.rows()}
            return all(rows[i]["status"] != "running" or int(rows[i]["pyexp_attempts"]) >= 2 for i in stranded)

        wait_for("the killed workers' rows to be requeued", stranded_recovered, 30)
        recovered_after = time.monotonic() - killed_at
        codes = join_all(procs[3:], 120)
    finally:
        stop_all(procs)
    assert codes == [0] * 5
    assert recovered_after < config.stale_after_seconds + 3, recovered_after
    assert_each_result_written_once(exp, record, killed)
    table = exp.get_table().set_index("ID")
    history = attempts_by_row(exp)
    for rid in stranded:
        assert table.loc[rid, "pyexp_attempts"] >= 2
        lost = [a for a in history[rid] if a["outcome"] == "lost"]
        assert lost and lost[0]["error"].startswith("worker lost: no heartbeat since"), history[rid]
        assert int(lost[0]["pid"]) in killed
    # Only the victims' running rows were lost: nobody else's heartbeat lapsed.
    lost_rows = {rid for rid, h in history.items() if any(a["outcome"] == "lost" for a in h)}
    assert lost_rows == stranded
    print(f"\n[{config.database.kind}] {len(stranded)} stranded row(s) requeued {recovered_after:.2f}s after the kill")
    exp.close()


# ----------------------------------------------------------------------------- signals


@pytest.mark.parametrize(
    ("backend", "signum"),
    [("sqlite", signal.SIGTERM), ("mysql", signal.SIGTERM), ("sqlite", signal.SIGINT), ("sqlite", signal.SIGUSR2)],
    indirect=["backend"],
    ids=["sqlite-SIGTERM", "mysql-SIGTERM", "sqlite-SIGINT", "sqlite-SIGUSR2"],
)
def test_signal_releases_the_running_row(make_config: ConfigMaker, tmp_path: Path, signum: int) -> None:
    """`pyexp run` on a 30 s experiment gets a stop signal: it exits within seconds and
    the row is `created` again, no attempt spent, the attempt recorded as `released`."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment=FAST, parameters={"x": [7]}, custom={"record": str(record.path), "sleep": 30})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyexperimenter.cli", "run", str(path), "--function", "experiments:sleepy"],
        env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for("the experiment to start", lambda: "start" in (record.path.read_text() if record.path.exists() else ""), 30)
        err, took = signal_and_wait(proc, signum)
    finally:
        reap(proc)
    assert took < 10
    assert "released 1 row(s) back to created" in err, err
    assert "end" not in record.path.read_text()
    row = exp.get_table().iloc[0]
    assert row["status"] == "created" and int(row["pyexp_attempts"]) == 0
    assert row["pyexp_worker"] is None or row["pyexp_worker"] != row["pyexp_worker"]  # cleared (None or NaN)
    attempts = exp.get_attempts()
    assert list(attempts["outcome"]) == ["released"] and attempts["end_date"].notna().all()
    # The released row is claimed again like any other, as attempt 1.
    exp.config = replace(exp.config, custom={"record": str(record.path), "sleep": 0})
    exp.execute(experiments.sleepy)
    row = exp.get_table().iloc[0]
    assert row["status"] == "done" and int(row["pyexp_attempts"]) == 1
    print(f"\n[{exp.config.database.kind}] {signal.Signals(signum).name}: worker exited {took:.2f}s after the signal")
    exp.close()


def test_signal_to_pyexp_run_reaches_every_worker(make_config: ConfigMaker, tmp_path: Path) -> None:
    """SIGTERM to the `pyexp run --jobs 3` parent alone: every child releases its row."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment=FAST, parameters={"x": [1, 2, 3]}, custom={"record": str(record.path), "sleep": 30})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyexperimenter.cli", "run", str(path), "--jobs", "3", "--function", "experiments:sleepy"],
        env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for("three experiments to start", lambda: len(record.path.read_text().splitlines()) == 3 if record.path.exists() else False, 30)
        err, took = signal_and_wait(proc, signal.SIGTERM)
    finally:
        reap(proc)
    assert took < 10, err
    assert exp.counts()["created"] == 3, err
    assert set(exp.get_table()["pyexp_attempts"]) == {0}
    assert list(exp.get_attempts()["outcome"]) == ["released"] * 3
    exp.close()


def writes_then_sleeps(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
    result_processor.process_results({"label": "written"})  # the test's SIGTERM lands in here
    experiments.record(custom["record"], result_processor.experiment_id, "0 0 after")
    time.sleep(30)


def test_signal_inside_a_database_call_waits_for_its_end(
    make_config: ConfigMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop signal arriving while the experiment is inside a database call (writing a
    result) does not cut the call short: the write completes, then the experiment is
    interrupted at once and the row released."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment=FAST, parameters={"x": [3]}, custom={"record": str(record.path)})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    session_class = type(exp.store.session)  # type: ignore[attr-defined]
    real = session_class.execute

    def execute(self: Any, cur: Any, sql: str, args: Any = ()) -> Any:
        if sql.startswith("UPDATE") and "label" in sql:
            os.kill(os.getpid(), signal.SIGTERM)  # handled right here, inside the transaction
            time.sleep(0.05)
        return real(self, cur, sql, args)

    monkeypatch.setattr(session_class, "execute", execute)
    started = time.monotonic()
    codes = exp.execute(writes_then_sleeps)
    assert time.monotonic() - started < 10
    monkeypatch.undo()
    assert codes == [128 + signal.SIGTERM]
    assert "after" not in (record.path.read_text() if record.path.exists() else "")
    row = exp.get_table().iloc[0]
    assert row["label"] == "written"  # the interrupted call was not cut short
    assert row["status"] == "created" and int(row["pyexp_attempts"]) == 0
    assert list(exp.get_attempts()["outcome"]) == ["released"]
    exp.close()


# ----------------------------------------------------------------------------- zombie


def test_zombie_worker_is_fenced_out(make_config: ConfigMaker, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A live worker's row is declared lost and re-run while the first worker still runs:
    its late logs and results are refused and the second attempt's results stand."""
    record = Record(tmp_path / "executions.txt")
    go = tmp_path / "go"
    path = make_config(
        # Heartbeats far apart, so the test can age the row's heartbeat between two beats.
        experiment={"heartbeat_seconds": 5, "stale_after_seconds": 20},
        parameters={"x": [0]},
        logtables={"steps": {"step": "INT"}},
        custom={"record": str(record.path), "go": str(go)},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    config = exp.config
    exp.close()
    procs = spawn(config, experiments.zombie, 1)
    try:
        wait_for("the first attempt to start", lambda: record.events("start"), 30)
        store = exp.store
        rid = record.events("start")[0][0]

        def declare_lost() -> bool:
            # Age the heartbeat on the server's clock, then the real compare-and-set sweep.
            store.session.transaction(lambda cur: store.session.execute(
                cur, f"UPDATE {store.t} SET pyexp_heartbeat = {store.ago_sql()} WHERE ID = ?", (3600, rid)))
            return exp.recover() == 1

        wait_for("the row to be requeued", declare_lost, 20, every=0.2)
        assert procs[0].is_alive()
        exp.execute(experiments.zombie)  # a second worker, here, runs attempt 2 to the end
        go.touch()
        codes = join_all(procs, 30)
    finally:
        go.touch()
        stop_all(procs)
    assert codes == [0]
    row = exp.get_table().set_index("ID").loc[rid]
    assert row["status"] == "done" and row["value"] == 2.0 and row["label"] == "attempt 2"
    assert int(row["pyexp_attempts"]) == 2
    events = [ev for r, _, _, ev in record.lines() if r == rid]
    assert events == ["start", "start", "logs-refused", "results-refused"], events
    assert exp.get_logtable("steps").empty
    history = attempts_by_row(exp)[rid]
    assert [a["outcome"] for a in history] == ["lost", "done"]
    assert history[0]["error"].startswith("worker lost: no heartbeat since")
    assert int(history[0]["pid"]) == procs[0].pid and int(history[1]["pid"]) == os.getpid()
    assert "1 result(s) refused" in capfd.readouterr().err
    exp.close()


# ----------------------------------------------------------------------------- many workers


@pytest.mark.slow
def test_64_workers_5000_noops(make_config: ConfigMaker, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """64 workers on 5,000 no-op experiments: no unhandled deadlock, no duplicate execution.

    The default heartbeat and stale limit, not the tests' 1 s and 5 s: 64 workers on two
    cores may see a database stall of more than five seconds, and a live worker's rows
    swept as lost are run twice by design (docs/concepts.md); that is not what this tests."""
    record = tmp_path / "executions.txt"
    path = make_config(parameters={"x": {"start": 0, "stop": 2500}, "y": ["a", "b"]}, custom={"record": str(record)},
                       experiment={"heartbeat_seconds": 30, "stale_after_seconds": 120})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 5000
    started = time.monotonic()
    codes = exp.execute(experiments.recording, n_jobs=64)
    took = time.monotonic() - started
    err = capfd.readouterr().err
    assert codes == [0] * 64, err[-3000:]
    assert "Traceback" not in err and "eadlock" not in err, err[-3000:]
    runs = Counter(int(line.split()[0]) for line in record.read_text().splitlines())
    sweeps = [line for line in err.splitlines() if "lost run" in line or "refused" in line or "lost the rows" in line]
    assert len(runs) == 5000 and set(runs.values()) == {1}, ([k for k, v in runs.items() if v > 1][:20], sweeps[:10])
    table = exp.get_table()
    assert set(table["status"]) == {"done"} and set(table["pyexp_attempts"]) == {1}
    assert (table["value"] == table["x"] * 2.0).all()
    attempts = exp.get_attempts()
    assert len(attempts) == 5000 and set(attempts["outcome"]) == {"done"}
    assert table["pyexp_worker"].nunique() > 4  # the work really was shared
    print(f"\n[{exp.config.database.kind}] 64 workers x 5000 no-ops: {took:.1f}s")
    exp.close()


# ----------------------------------------------------------------------------- the sweeper


def test_nobody_left_behind(make_config: ConfigMaker, tmp_path: Path) -> None:
    """Nothing open, one row lost by a killed worker: one worker (not all) stays, requeues
    it once its heartbeat is stale, runs it and exits; the others leave at once."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment={"heartbeat_seconds": 0.5, "stale_after_seconds": 4},
                       parameters={"x": {"start": 0, "stop": 20}}, custom={"record": str(record.path), "sleep": 0.02})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    config = exp.config
    exp.close()
    hanging = replace(config, custom={**config.custom, "sleep": 120})
    procs = spawn(hanging, experiments.tracked, 1, max_experiments=1)
    try:
        wait_for("the doomed experiment to start", lambda: record.events("start"), 30)
        doomed = record.events("start")[0][0]
        victim = procs[0]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        killed_at = time.monotonic()
        workers = spawn(config, experiments.tracked, 3)
        procs += workers
        wait_for("the other rows to be done", lambda: count(exp)["done"] == 19, 30)
        # The lost row is not stale yet; two workers leave, one stays behind for it.
        wait_for("two workers to leave", lambda: sum(p.is_alive() for p in workers) == 1, 3)
        assert exp.get_table().set_index("ID").loc[doomed, "status"] == "running"
        assert time.monotonic() - killed_at < config.stale_after_seconds
        stayer = next(p for p in workers if p.is_alive())
        codes = join_all(workers, 30)
        finished_after = time.monotonic() - killed_at
    finally:
        stop_all(procs)
    assert codes == [0, 0, 0]
    assert_each_result_written_once(exp, record, {int(victim.pid)})
    history = attempts_by_row(exp)[doomed]
    assert [a["outcome"] for a in history] == ["lost", "done"]
    assert int(history[1]["pid"]) == stayer.pid
    # Finished within the stale limit, a recovery interval (2 s), the run itself, and room for
    # a loaded machine (9.9 s seen under 8 test workers at load 50); a sweeper that waited for
    # its 30 s cap, or for a second stale period, would still fail this.
    assert finished_after < config.stale_after_seconds + 11, finished_after
    print(f"\n[{config.database.kind}] lost run finished {finished_after:.2f}s after its worker was killed "
          f"(stale after {config.stale_after_seconds:g}s)")
    exp.close()


# ----------------------------------------------------------------------------- compare-and-set


def _recover(path: str) -> int:
    with Experimenter(path) as exp:
        return exp.recover()


def test_concurrent_recovers_change_each_row_once(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"heartbeat_seconds": 0.2, "stale_after_seconds": 0.5},
                       parameters={"x": {"start": 0, "stop": 200}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    claims = exp.store.claim(WorkerIdentity("gone", "h", 1), 200)
    assert len(claims) == 200
    time.sleep(1.0)
    ctx = multiprocessing.get_context("fork")
    exp.close()
    with ctx.Pool(4) as pool:
        changed = pool.map(_recover, [str(path)] * 4)
    assert sum(changed) == 200, changed
    attempts = exp.get_attempts()
    assert len(attempts) == 200 and set(attempts["outcome"]) == {"lost"}
    assert exp.counts()["created"] == 200
    exp.close()


def test_lost_run_waits_for_the_retry_delay(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"heartbeat_seconds": 0.2, "stale_after_seconds": 0.5, "retry_delay_seconds": 30},
                       parameters={"x": [1]})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    first = exp.store.claim(WorkerIdentity("gone", "h", 1), 1)
    time.sleep(1.0)
    assert exp.recover() == 1
    table = exp.get_table(keep_internal=True)
    assert table.iloc[0]["status"] == "created" and table.iloc[0]["pyexp_available_at"] is not None
    assert exp.store.claim(WorkerIdentity("next", "h", 2), 1) == []  # not before the delay
    assert first[0].id == int(table.iloc[0]["ID"])
    exp.close()


# ----------------------------------------------------------------------------- CLI


def test_recover_and_max_attempts_on_the_cli(make_config: ConfigMaker, tmp_path: Path) -> None:
    """`pyexp recover` requeues lost runs on demand; `--max-attempts` overrides the config."""
    record = tmp_path / "executions.txt"
    path = make_config(experiment={"heartbeat_seconds": 0.2, "stale_after_seconds": 0.5, "max_attempts": 5},
                       parameters={"x": [1, 2, 3]}, custom={"record": str(record)})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.store.claim(WorkerIdentity("gone", "h", 1), 2)
    time.sleep(1.0)
    runner = CliRunner()
    result = runner.invoke(cli, ["recover", str(path), "--max-attempts", "1"])
    assert result.exit_code == 0, result.output
    assert "recovered 2 lost run(s)" in result.output
    counts = exp.counts()
    assert counts["error"] == 2 and counts["created"] == 1  # attempts 1 >= max 1: given up
    errors = exp.get_table()["error"].dropna()
    assert len(errors) == 2 and errors.str.startswith("worker lost: no heartbeat since").all()
    assert exp.reset_experiments("error") == 2
    result = runner.invoke(cli, ["recover", str(path)])
    assert result.exit_code == 0 and "recovered 0 lost run(s)" in result.output

    # `run --max-attempts 1`: a failing experiment is not retried.
    result = runner.invoke(cli, ["run", str(path), "--function", "experiments:always_fails", "--max-attempts", "1"])
    assert result.exit_code == 0, result.output
    table = exp.get_table()
    assert set(table["status"]) == {"error"} and set(table["pyexp_attempts"]) == {1}
    exp.close()

