"""`pyexp launch` end to end on a real SLURM cluster and a real MariaDB.

Needs `scripts/services.sh` (one-node cluster, partition debug, 64 CPUs; MariaDB on
127.0.0.1). Without them these tests are skipped on a laptop and fail under CI=true.
The table is the source of truth throughout: nothing here asks sacct.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.paths import ROOT, TESTS
from support.services import mysql_connect, require_slurm

from pyexperimenter import Experimenter

pytestmark = [pytest.mark.slurm, pytest.mark.mysql]

PYEXP = Path(sys.executable).parent / "pyexp"
WORKER_NAME = re.compile(r"(\d+)_(\d+)@[^:]+:\d+")


# ----------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    require_slurm()


@pytest.fixture
def jobs(slurm_cluster: None) -> Iterator[list[str]]:
    """Job ids a test submitted; whatever is left of them is cancelled afterwards."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
        wait_gone(ids, 60)


def squeue_ids(ids: list[str] | None = None) -> list[str]:
    cmd = ["squeue", "-h", "-o", "%i"] + (["-j", ",".join(ids)] if ids else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return out.stdout.split() if out.returncode == 0 else []


def queued_from(folder: Path) -> list[str]:
    """Jobs queued or running whose working folder is `folder` (a test's own tmp_path, where
    `pyexp launch` runs): other test runs share the cluster, so the whole queue is no measure."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%Z"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [job for job, _, where in (line.partition("|") for line in out.stdout.splitlines()) if where == str(folder)]


def wait_gone(ids: list[str], timeout: float) -> None:
    end = time.monotonic() + timeout
    while squeue_ids(ids):
        if time.monotonic() > end:
            raise AssertionError(f"jobs {ids} still queued or running after {timeout:.0f} s: {squeue_ids(ids)}")
        time.sleep(0.5)


def write_config(tmp_path: Path, url: str, rows: int, function: str, name: str = "exp",
                 custom: dict[str, Any] | None = None, slurm: dict[str, Any] | None = None,
                 fill_db: str | None = None, stale_after: float = 5) -> Path:
    """`stale_after`: long where a test asserts that each row ran once. It checks the claim,
    not the lost-run sweep, which by design runs a row again when a live worker's heartbeat
    comes late."""
    data = {
        "experiment": {"name": name, "function": function, "heartbeat_seconds": 1,
                       "stale_after_seconds": stale_after},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": rows}, "y": ["a"]},
        "results": {"value": "DOUBLE", "label": "VARCHAR(64)"},
        "slurm": {"partition": "debug", "time_minutes": 10, "mem_gb": 0.25, **(slurm or {})},
        "custom": {"record": str(tmp_path / "executions.txt"), **(custom or {})},
    }
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert Experimenter(path, db=fill_db).fill_table_from_config() == rows
    return path


def pyexp(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("PYEXP_DB_PASSWORD", None)
    return subprocess.run([str(PYEXP), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def submitted_ids(output: str) -> list[str]:
    line = next((ln for ln in output.splitlines() if ln.startswith("submitted")), "")
    return re.findall(r"(\d+) \(\d+ tasks\)", line)


def wait_drained(exp: Experimenter, timeout: float) -> float:
    """Seconds until no row is open or running."""
    start = time.monotonic()
    while True:
        counts = exp.counts()
        if counts["created"] + counts["running"] == 0:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"table not drained after {timeout:.0f} s: {counts}")
        time.sleep(0.25)


def dry_run_scripts(output: str) -> list[str]:
    parts = re.split(r"^# ---- sbatch script \d+ of \d+ \(\d+ tasks\) ----\n", output, flags=re.M)[1:]
    return [p.split("\n\ndry run: nothing was submitted")[0].rstrip("\n") + "\n" for p in parts]


@contextlib.contextmanager
def max_array_size(n: int) -> Iterator[None]:
    subprocess.run(["bash", str(ROOT / "scripts" / "slurm_max_array_size.sh"), str(n)], check=True,
                   capture_output=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "slurm_max_array_size.sh"), "10001"], check=True,
                       capture_output=True, timeout=120)


@contextlib.contextmanager
def database_user(mysql_url: str, user: str, password: str) -> Iterator[str]:
    """A user with a password, for the database of this test; yields its URL without the password."""
    database = mysql_url.rsplit("/", 1)[1]
    conn = mysql_connect()
    conn.cursor().execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
    conn.cursor().execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
    conn.close()
    try:
        yield f"mysql://{user}@127.0.0.1:3306/{database}"
    finally:
        conn = mysql_connect()
        conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


# ----------------------------------------------------------------------------- the acceptance tests


def test_twenty_workers_drain_200_experiments(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    """Also: the password reaches the nodes only through the environment, and the script
    printed by --dry-run is exactly the one submitted."""
    with database_user(mysql_url, "pyexp_slurm", "Tr1cky-pw") as url:
        secret_url = url.replace("pyexp_slurm@", "pyexp_slurm:Tr1cky-pw@")
        path = write_config(tmp_path, url, rows=200, function="experiments:recording", custom={"sleep": 0.2},
                            fill_db=secret_url)
        dry = pyexp("launch", str(path), "--db", secret_url, "--workers", "20", "--dry-run", cwd=tmp_path)
        assert dry.returncode == 0, dry.stderr
        started = time.monotonic()
        out = pyexp("launch", str(path), "--db", secret_url, "--workers", "20", cwd=tmp_path)
        accepted = time.monotonic() - started
        assert out.returncode == 0, out.stderr + out.stdout
        jobs += submitted_ids(out.stdout)
        assert len(jobs) == 1, out.stdout
        assert "pyexp status" in out.stdout and f"squeue -j {jobs[0]}" in out.stdout
        exp = Experimenter(path, db=secret_url)
        drained = wait_drained(exp, 120) + accepted
        print(f"\n20 workers drained 200 experiments of 0.2 s in {drained:.1f} s (launch returned after {accepted:.1f} s)")
        table = exp.get_table()
        assert set(table["status"]) == {"done"} and len(table) == 200
        workers = set(table["pyexp_worker"])
        assert len(workers) >= 2 and all(WORKER_NAME.fullmatch(w) for w in workers), workers
        assert {WORKER_NAME.fullmatch(w).group(1) for w in workers} == {jobs[0]}  # type: ignore[union-attr]
        attempts = exp.get_attempts()
        assert set(attempts["array_job_id"].astype(str)) == {jobs[0]}
        wait_gone(jobs, 60)
    log_dir = tmp_path / "pyexp_logs" / "exp"
    submitted = (log_dir / f"{jobs[0]}_submission.sh").read_text()
    assert dry_run_scripts(dry.stdout) == [submitted]
    logs = sorted(log_dir.glob(f"{jobs[0]}_*.log"))
    assert len(logs) == 20
    everything = submitted + dry.stdout + out.stdout + "".join(p.read_text() for p in logs)
    assert "Tr1cky-pw" not in everything
    assert "ran " in logs[0].read_text()


def test_more_workers_than_max_array_size_are_split(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=250, function="experiments:noop")
    with max_array_size(101):
        try:
            out = pyexp("launch", str(path), "--workers", "250", cwd=tmp_path)
            assert out.returncode == 0, out.stderr + out.stdout
            jobs += submitted_ids(out.stdout)
            assert "MaxArraySize 101" in out.stdout and "split into 3 arrays" in out.stdout
            assert len(jobs) == 3
            wait_drained(Experimenter(path), 180)
            wait_gone(jobs, 180)  # every task ran (most found nothing left to do)
        finally:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
            wait_gone(jobs, 60)
    log_dir = tmp_path / "pyexp_logs" / "exp"
    arrays = [re.search(r"^#SBATCH --array=(\S+)$", (log_dir / f"{j}_submission.sh").read_text(), re.M) for j in jobs]
    sizes = [int(m.group(1).split("%")[0].split("-")[1]) + 1 for m in arrays if m]
    assert sizes == [100, 100, 50]
    logs = list(log_dir.glob("*_*.log"))
    assert len(logs) == 250
    assert all(re.search(r"pyexp worker \d+_\d+@\S+: ran \d+ experiment", p.read_text()) for p in logs)
    assert set(Experimenter(path).get_table()["status"]) == {"done"}


def _running(exp: Experimenter, n: int, timeout: float) -> dict[int, str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        table = exp.get_table()
        running = table[table["status"] == "running"]
        if len(running) >= n:
            return dict(zip(running["ID"], running["pyexp_worker"]))
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} rows running after {timeout:.0f} s")


def test_cancelled_task_is_recovered_by_another_worker(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=4, function="experiments:recording", custom={"sleep": 8})
    exp = Experimenter(path)
    result = exp.launch(workers=4)
    jobs += result.job_ids
    running = _running(exp, 4, 60)
    (killed_row, killed), (stopped_row, stopped) = sorted(running.items())[:2]
    task = {row: "_".join(WORKER_NAME.fullmatch(w).groups()) for row, w in running.items()}  # type: ignore[union-attr]
    # SIGKILL: the worker cannot say goodbye, only its stale heartbeat tells. Plain scancel
    # (SIGTERM) lets it hand the row back at once.
    subprocess.run(["scancel", "--batch", "--signal=KILL", task[killed_row]], check=True, timeout=30)
    subprocess.run(["scancel", task[stopped_row]], check=True, timeout=30)
    wait_drained(exp, 90)
    table = exp.get_table().set_index("ID")
    assert set(table["status"]) == {"done"}
    attempts = exp.get_attempts()
    history = {row: list(zip(g.sort_values("ID")["worker"], g.sort_values("ID")["outcome"]))
               for row, g in attempts.groupby("experiment_id")}
    assert history[killed_row][0] == (killed, "lost")
    assert history[killed_row][-1][1] == "done" and history[killed_row][-1][0] != killed
    # SIGTERM long before the time limit: the scheduler took it back, no attempt spent.
    assert history[stopped_row][0] == (stopped, "preempted")
    assert history[stopped_row][-1][1] == "done" and history[stopped_row][-1][0] != stopped
    assert table.loc[killed_row, "pyexp_worker"] != killed and table.loc[stopped_row, "pyexp_worker"] != stopped


def test_time_limit_releases_the_row_and_a_later_launch_finishes_it(jobs: list[str], mysql_url: str,
                                                                    tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=1, function="experiments:sleepy", custom={"sleep": 600})
    exp = Experimenter(path)
    first = exp.launch(workers=1, time_minutes=1, max_task_requeues=0)  # `--no-requeue`: the later launch finishes it
    jobs += first.job_ids
    assert "#SBATCH --time=1" in (tmp_path / "pyexp_logs" / "exp" / f"{first.job_ids[0]}_submission.sh").read_text()
    started = time.monotonic()
    while True:  # USR2 comes 20 s (give or take SLURM's 30 s tick) before the limit
        attempts = exp.get_attempts()
        if len(attempts) and attempts["outcome"].iloc[0] != "running":
            break
        assert time.monotonic() - started < 150, "the worker never handed its row back"
        time.sleep(1)
    assert list(attempts["outcome"]) == ["time_limit"], attempts["error"].iloc[0]
    row = exp.get_table().iloc[0]
    assert row["status"] == "created" and row["pyexp_attempts"] == 0  # no attempt spent
    wait_gone(first.job_ids, 90)
    log = (tmp_path / "pyexp_logs" / "exp" / f"{first.job_ids[0]}_0.log").read_text()
    assert "stopped by SIGUSR2" in log or "stopped by SIGTERM" in log
    second = exp.launch(fn="experiments:noop", workers=3)
    jobs += second.job_ids
    assert second.workers == 1  # capped at the one open row
    wait_drained(exp, 60)
    attempts = exp.get_attempts().sort_values("ID")
    assert list(attempts["outcome"]) == ["time_limit", "done"]
    assert exp.get_table().iloc[0]["status"] == "done"


def test_logs_of_a_slurm_launched_experiment(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    """What a SLURM worker's experiments print: in the SLURM log (tee'd) and in `pyexp logs`,
    while one runs, once it is done and once it failed."""
    go = tmp_path / "go"
    path = write_config(tmp_path, mysql_url, rows=3, function="experiments:chatty",
                        custom={"go": str(go)}, slurm={"time_minutes": 5})
    exp = Experimenter(path)
    ids = dict(zip(exp.get_table()["x"], exp.get_table()["ID"]))
    jobs += exp.launch(workers=1).job_ids
    end = time.monotonic() + 90
    while "out 2 ü" not in (running := pyexp("logs", str(path), str(ids[2]), cwd=tmp_path)).stdout:
        assert time.monotonic() < end, running.stdout + running.stderr
        time.sleep(0.5)
    assert ": running, worker " in running.stdout.splitlines()[0] and "finished\n" not in running.stdout
    go.write_text("")
    wait_drained(exp, 60)
    wait_gone(jobs, 60)
    done, failed = (pyexp("logs", str(path), str(ids[x]), cwd=tmp_path) for x in (2, 1))
    assert done.returncode == 0 and ": done, worker " in done.stdout and done.stdout.endswith("finished\n")
    assert ": failed, worker " in failed.stdout and "out 1 ü\nerr 1\n" in failed.stdout
    slurm_log = (tmp_path / "pyexp_logs" / "exp" / f"{jobs[0]}_0.log").read_text()
    assert "out 0 ü" in slurm_log and "err 1" in slurm_log and "finished" in slurm_log
    assert "ValueError: chatty failed" in slurm_log and "ValueError: chatty failed" in failed.stdout
    exp.close()


def test_dry_run_submits_nothing_and_its_script_can_be_submitted_by_hand(jobs: list[str], mysql_url: str,
                                                                          tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=30, function="experiments:recording", custom={"sleep": 0.1})
    out = pyexp("launch", str(path), "--workers", "3", "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert queued_from(tmp_path) == []
    assert not (tmp_path / "pyexp_logs").exists()
    [script] = dry_run_scripts(out.stdout)
    assert script.startswith("#!/bin/bash\n") and "#SBATCH --array=0-2\n" in script
    file = tmp_path / "by_hand.sbatch"
    file.write_text(script)
    (tmp_path / "pyexp_logs" / "exp").mkdir(parents=True)  # sbatch does not create the log folder
    submitted = subprocess.run(["sbatch", str(file)], capture_output=True, text=True, check=True, timeout=30)
    jobs.append(re.search(r"job (\d+)", submitted.stdout).group(1))  # type: ignore[union-attr]
    exp = Experimenter(path)
    wait_drained(exp, 60)
    workers = set(exp.get_table()["pyexp_worker"])
    assert {WORKER_NAME.fullmatch(w).group(1) for w in workers} == {jobs[0]}  # type: ignore[union-attr]


def test_refused_submission_is_one_clear_line(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=3, function="experiments:noop")
    out = pyexp("launch", str(path), "--workers", "2", "--partition", "no_such_partition", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "invalid partition" in out.stderr.lower(), out.stderr
    assert queued_from(tmp_path) == []


@pytest.mark.slow
def test_two_hundred_workers_on_1000_experiments(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, mysql_url, rows=1000, function="experiments:recording", custom={"sleep": 0.5},
                        stale_after=60)
    started = time.monotonic()
    out = pyexp("launch", str(path), "--workers", "200", "--wait", cwd=tmp_path, timeout=280)
    took = time.monotonic() - started
    jobs += submitted_ids(out.stdout)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "drained: done 1000, error 0" in out.stdout
    print(f"\n200 workers drained 1000 experiments of 0.5 s in {took:.1f} s (launch --wait)")
    exp = Experimenter(path)
    table = exp.get_table()
    assert set(table["status"]) == {"done"} and len(table) == 1000
    executions = (tmp_path / "executions.txt").read_text().split("\n")
    assert len([e for e in executions if e]) == 1000  # each experiment ran exactly once
    wait_gone(jobs, 120)
    logs = list((tmp_path / "pyexp_logs" / "exp").glob("*.log"))
    assert len(logs) == 200
    assert not [p.name for p in logs if "Traceback" in p.read_text() or "error" in p.read_text().lower()]


def test_workers_that_die_at_start_are_reported_not_drained(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    """An interpreter on the nodes without the package: every worker dies before claiming a
    row. `launch --wait` says so, quotes a worker log and names the log folder, exits 1."""
    # The environment is loaded where pyexp runs, not on the nodes: the pre-launch check of
    # the configured interpreter passes, the workers do not.
    setup = f'if [ -n "$SLURM_JOB_ID" ]; then PY=/usr/bin/python3; else PY={sys.executable}; fi'
    path = write_config(tmp_path, mysql_url, rows=6, function="experiments:noop",
                        slurm={"python": "$PY", "setup": [setup], "time_minutes": 5})
    out = pyexp("launch", str(path), "--workers", "3", "--wait", cwd=tmp_path, timeout=240)
    jobs += submitted_ids(out.stdout)
    assert len(jobs) == 1, out.stdout + out.stderr
    assert out.returncode == 1, out.stdout + out.stderr
    said = out.stdout + out.stderr
    assert "drained" not in said
    assert "3 worker(s) ended before claiming any row" in said, said
    assert "No module named 'pyexperimenter'" in said, said
    assert str(tmp_path / "pyexp_logs" / "exp") in said, said


def test_preflight_tries_the_configured_interpreter(jobs: list[str], mysql_url: str, tmp_path: Path) -> None:
    """The same broken interpreter is caught before anything is submitted: exit 2, one line."""
    path = write_config(tmp_path, mysql_url, rows=6, function="experiments:noop",
                        slurm={"python": "/usr/bin/python3", "setup": ["export PYEXP_SETUP_RAN=1"]})
    out = pyexp("launch", str(path), "--workers", "3", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert "slurm.python" in out.stderr and "No module named 'pyexperimenter'" in out.stderr, out.stderr
    assert queued_from(tmp_path) == []
    dry = pyexp("launch", str(path), "--workers", "3", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 2 and "No module named 'pyexperimenter'" in dry.stderr, dry.stderr


def test_slurm_log_holds_finished_experiments_output_while_the_worker_runs(jobs: list[str], mysql_url: str,
                                                                          tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch job's stdout is a file: without line buffering a worker's log showed nothing
    until it exited, and stdout and stderr lines came out of order."""
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # the jobs get this environment; users rarely set it
    path = write_config(tmp_path, mysql_url, rows=30, function="experiments:talking", custom={"sleep": 1.5})
    exp = Experimenter(path)
    ids = dict(zip(exp.get_table()["ID"], exp.get_table()["x"]))
    jobs += exp.launch(workers=1).job_ids
    end = time.monotonic() + 120
    while (done := exp.counts()["done"]) < 3:
        assert time.monotonic() < end, exp.counts()
        time.sleep(0.5)
    finished = sorted(ids[i] for i in exp.get_table().query("status == 'done'")["ID"])
    log = (tmp_path / "pyexp_logs" / "exp" / f"{jobs[0]}_0.log").read_text()
    assert exp.counts()["done"] < 30 and squeue_ids(jobs), "the worker must still be running"
    lines = [ln for ln in log.splitlines() if ln.startswith("talking ")]
    expected = [f"talking {x} {what}" for x in finished for what in ("start", "end")]
    assert lines[: len(expected)] == expected, log
    assert done >= 3
    subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
    wait_gone(jobs, 60)  # before the database is dropped under it
