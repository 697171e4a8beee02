"""Database faults: a private MariaDB killed and restarted mid-run, a server with fewer
connections than workers, lost COMMIT replies, deadlocks, lock waits, a locked SQLite file.

The `faults` tests start their own MariaDB (scripts/private_mariadb.sh) on a port in
3407-3420 of a loopback address of their own (127.X.Y.Z, chosen at random), with a datadir
under /tmp/pyexp-private-*, and stop it afterwards; the machine's own server is never
touched. The address of its own is what makes the restart safe on a busy machine: on the
shared 127.0.0.1, another test run starting its private server while this one was down took
the port, and the restart failed ("something else is already listening on port 3407").
Waits are bounded by progress, not by the clock, so a loaded machine only makes them slower. The other tests inject failures into the store's connection,
or into one named query (store/sql/queries.sql) through the Session's one run method.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import experiments
import pymysql
import pytest
import yaml
from support.configs import ConfigMaker
from support.paths import ROOT
from support.services import IN_CI, service_missing
from support.workers import Record, assert_each_result_written_once, count, join_all, spawn, stop_all

from pyexperimenter import Experimenter
from pyexperimenter.store import WorkerIdentity
from pyexperimenter.store.backends.mysql import MySQLSession, MySQLStore
from pyexperimenter.worker import Worker

SCRIPT = ROOT / "scripts" / "private_mariadb.sh"
PORTS = range(3407, 3421)
START_SECONDS = 240  # a start (a crash recovery included) on a machine busy with other work


def loopback_address() -> str:
    """A loopback address of this test run's own: Linux answers on all of 127.0.0.0/8."""
    rng = random.SystemRandom()
    return f"127.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


# ----------------------------------------------------------------------------- the private server


class PrivateMariaDB:
    """A MariaDB server of our own: `kill` is SIGKILL to its pid, never to a name."""

    def __init__(self, port: int, datadir: Path, host: str = "127.0.0.1"):
        self.port, self.datadir, self.host = port, datadir, host

    def _script(self, action: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), action, str(self.port), str(self.datadir)],
            capture_output=True, text=True, timeout=START_SECONDS + 60,
            env={**os.environ, "PYEXP_PRIVATE_MARIADB_HOST": self.host,
                 "PYEXP_PRIVATE_MARIADB_TIMEOUT": str(START_SECONDS), **env},
        )

    def start(self) -> None:
        done = self._script("start", PYEXP_PRIVATE_MARIADB_OPTS="")
        if done.returncode != 0:
            raise RuntimeError(f"private MariaDB did not start: {done.stderr.strip()}")

    def kill(self) -> None:
        done = self._script("kill")
        assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        self._script("stop")

    def connect(self, database: str | None = None) -> Any:
        return pymysql.connect(host=self.host, port=self.port, user="root", password="", database=database,
                               autocommit=True, connect_timeout=30)

    def new_database(self) -> str:
        name = f"pyexp_f_{uuid.uuid4().hex[:10]}"
        conn = self.connect()
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
        conn.close()
        return f"mysql://root@{self.host}:{self.port}/{name}"

    def status(self, variable: str) -> int:
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE %s", (variable,))
        row = cur.fetchone()
        conn.close()
        return int(row[1])


def _free_ports(host: str) -> Iterator[int]:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        yield port


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[PrivateMariaDB]:
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        service_missing("a private MariaDB", "mariadbd is not installed (run scripts/services.sh)")
    if os.geteuid() != 0 and not IN_CI:
        pytest.skip("a private MariaDB needs root (mariadbd --user=mysql)")
    datadir = Path(tempfile.mkdtemp(prefix="pyexp-private-", dir="/tmp"))
    host = loopback_address()
    server, why = None, f"no free port in {PORTS.start}-{PORTS.stop - 1} on {host}"
    for port in _free_ports(host):  # another process may take a free port first: try the next
        candidate = PrivateMariaDB(port, datadir, host)
        try:
            candidate.start()
        except RuntimeError as e:
            candidate.stop()
            why = str(e)
            if "already listening" in why:
                continue
            break
        server = candidate
        break
    if server is None:
        shutil.rmtree(datadir, ignore_errors=True)
        service_missing("a private MariaDB", why)
        return
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(datadir, ignore_errors=True)


def write_config(tmp_path: Path, url: str, n: int, record: Path, sleep: float, **experiment: Any) -> Path:
    data = {
        "experiment": {"name": "faulty", "heartbeat_seconds": 0.5, "stale_after_seconds": 2, **experiment},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": n}},
        "results": {"value": "DOUBLE", "label": "VARCHAR(64)"},
        "custom": {"record": str(record), "sleep": sleep},
    }
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- server restart


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("downtime", [0.0, 9.0], ids=["restart", "down-9s"])
def test_server_killed_and_restarted_mid_run(private_mariadb: PrivateMariaDB, tmp_path: Path, downtime: float) -> None:
    """4 workers; 5 s into the run the server is killed with SIGKILL and started again
    (at once, or after 9 s: longer than the stale limit). Every experiment ends `done`
    exactly once, none `error`, none stuck `running`; no run is declared lost, because
    nobody could beat while the server was down."""
    record = Record(tmp_path / "executions.txt")
    path = write_config(tmp_path, private_mariadb.new_database(), 320, record.path, 0.1,
                        heartbeat_seconds=1, stale_after_seconds=8)
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 320
    config = exp.config
    exp.close()
    procs = spawn(config, experiments.tracked, 4)
    try:
        # Mid-run: some rows done (however long four workers take to start on a busy machine).
        assert _poll(lambda: count(exp)["done"] >= 20, 120), count(exp)
        before = count(exp)["done"]
        assert before < 320
        exp.close()
        private_mariadb.kill()
        time.sleep(downtime)
        private_mariadb.start()
        restarted = time.monotonic()
        at_restart = count(exp)["done"]
        wait_for_progress = _poll(lambda: count(exp)["done"] > at_restart, 180)
        resumed_after = time.monotonic() - restarted
        assert wait_for_progress
        codes = join_all(procs, 300)
        finished_after = time.monotonic() - restarted
    finally:
        stop_all(procs)
    assert codes == [0] * 4
    counts = count(exp)
    assert counts["done"] == 320 and counts["error"] == 0 and counts["running"] == 0, counts
    assert_each_result_written_once(exp, record, killed=set())  # also: no attempt was lost
    print(f"\n[restart, down {downtime:g}s] work resumed {resumed_after:.2f}s after the restart; "
          f"all done {finished_after:.2f}s after it")
    exp.close()


@pytest.mark.faults
def test_restart_while_another_run_listens_on_the_same_port(private_mariadb: PrivateMariaDB) -> None:
    """What failed under load: while this server was down, another test run's server took
    its port on 127.0.0.1. Here a listener of our own plays that run; the restart still
    succeeds, on the address only this run uses, and the data is still there."""
    conn = private_mariadb.connect()
    conn.cursor().execute("CREATE DATABASE IF NOT EXISTS kept")
    conn.close()
    private_mariadb.kill()
    other = socket.socket()
    try:
        try:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server does
            other.bind(("127.0.0.1", private_mariadb.port))
            other.listen()
        except OSError:
            pass  # another run does listen there now: the same situation
        private_mariadb.start()
    finally:
        other.close()
    cur = private_mariadb.connect().cursor()
    cur.execute("SHOW DATABASES LIKE 'kept'")
    assert cur.fetchone() == ("kept",)


@pytest.mark.faults
@pytest.mark.slow
def test_server_read_only_for_ten_seconds_mid_run(private_mariadb: PrivateMariaDB, tmp_path: Path) -> None:
    """`SET GLOBAL read_only=1` for 10 s under 3 workers (a failover, a server's full disk):
    error 1290 is waited out like a restart. No worker exits, every row ends `done` once,
    and results computed during the outage are kept. The workers' user lacks SUPER (root
    would write through read_only); the stale limit is longer than the outage."""
    record = Record(tmp_path / "executions.txt")
    url = private_mariadb.new_database()
    database = url.rsplit("/", 1)[1]
    admin = private_mariadb.connect()
    user = f"ro_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"CREATE USER '{user}'@'%'")
    admin.cursor().execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
    url = url.replace("root@", f"{user}@")
    path = write_config(tmp_path, url, 120, record.path, 0.15, heartbeat_seconds=1, stale_after_seconds=30)
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 120
    config = exp.config
    exp.close()
    procs = spawn(config, experiments.tracked, 3)
    try:
        assert _poll(lambda: count(exp)["done"] >= 10, 60)
        exp.close()
        admin.cursor().execute("SET GLOBAL read_only = 1")
        try:
            time.sleep(10)
            during = count(exp)
            alive = [p.is_alive() for p in procs]
        finally:
            admin.cursor().execute("SET GLOBAL read_only = 0")
        assert alive == [True] * 3, "a worker exited while the server refused writes"
        assert during["done"] < 120, "the run ended before the outage: the test proved nothing"
        assert _poll(lambda: count(exp)["done"] > during["done"], 60), "nothing resumed once writable"
        codes = join_all(procs, 180)
    finally:
        stop_all(procs)
        admin.cursor().execute("SET GLOBAL read_only = 0")
        admin.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()
    assert codes == [0] * 3
    counts = count(exp)
    assert counts["done"] == 120 and counts["error"] == 0 and counts["running"] == 0, counts
    assert_each_result_written_once(exp, record, killed=set())  # no attempt lost, none run twice
    exp.close()


@pytest.mark.faults
def test_processes_close_their_connections(private_mariadb: PrivateMariaDB, tmp_path: Path) -> None:
    """Every process says goodbye to the server: the CLI, forked and launched workers (with
    and without isolation), a script that never calls close(). A connection dropped without
    one is an "Aborted connection" warning in the server's log and counts in Aborted_clients
    (this server is the test's own: nobody else's clients count)."""
    record = tmp_path / "executions.txt"
    path = write_config(tmp_path, private_mariadb.new_database(), 12, record, 0.0, isolation="process")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr

    pyexp = [sys.executable, "-m", "pyexperimenter.cli"]
    before = private_mariadb.status("Aborted_clients")
    run(*pyexp, "fill", str(path))
    run(*pyexp, "run", str(path), "-j", "3", "--function", "experiments:tracked")
    run(*pyexp, "status", str(path))
    run(*pyexp, "reset", str(path), "--status", "all", "--yes")
    run(*pyexp, "launch", str(path), "--local", "--workers", "2", "--function", "experiments:tracked")
    run(sys.executable, "-c", f"from pyexperimenter import Experimenter; print(Experimenter({str(path)!r}).counts())")
    aborted = private_mariadb.status("Aborted_clients") - before
    assert aborted == 0, f"{aborted} connection(s) ended without saying goodbye"


def _poll(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------- max_connections


@pytest.mark.faults
@pytest.mark.slow
def test_more_workers_than_max_connections(private_mariadb: PrivateMariaDB, tmp_path: Path) -> None:
    """40 workers against max_connections=20: the ones without a slot wait, all finish.
    Idle connections hold all but two slots until a worker has been refused, so a refusal
    happens however slowly the workers start on a busy machine; then they are let go."""
    record = Record(tmp_path / "executions.txt")
    # 40 processes on 2 cores: a generous stale limit, no run should be declared lost here.
    path = write_config(tmp_path, private_mariadb.new_database(), 300, record.path, 0.05,
                        heartbeat_seconds=1, stale_after_seconds=5)
    exp = Experimenter(path)
    exp.fill_table_from_config()
    admin = private_mariadb.connect()
    refused_before = private_mariadb.status("Connection_errors_max_connections")
    admin.cursor().execute("SET GLOBAL max_connections = 20")
    holders = [private_mariadb.connect() for _ in range(17)]  # with `admin`, 18 of the 20 slots
    let_go = threading.Event()

    def release_after_a_refusal() -> None:
        cur = admin.cursor()  # a connection of its own would need one of the slots the workers fight for
        try:
            while not let_go.wait(0.1):
                cur.execute("SHOW GLOBAL STATUS LIKE 'Connection_errors_max_connections'")
                if int(cur.fetchone()[1]) > refused_before:
                    break
        finally:
            for conn in holders:
                conn.close()

    releaser = threading.Thread(target=release_after_a_refusal, daemon=True)
    releaser.start()
    try:
        started = time.monotonic()
        codes = exp.execute(experiments.tracked, n_jobs=40)
        took = time.monotonic() - started
        refused = private_mariadb.status("Connection_errors_max_connections") - refused_before
    finally:
        let_go.set()
        releaser.join(30)
        admin.cursor().execute("SET GLOBAL max_connections = 151")
        admin.close()
    assert codes == [0] * 40
    assert refused > 0, "no worker was ever refused a connection: the test proved nothing"
    assert_each_result_written_once(exp, record, killed=set())
    print(f"\n[max_connections=20] 40 workers: {refused} connection(s) refused and retried; all done in {took:.1f}s")
    exp.close()


# ----------------------------------------------------------------------------- injected failures


@pytest.fixture
def mysql_store(make_config: ConfigMaker, backend: str) -> Iterator[tuple[Experimenter, MySQLStore]]:
    if backend != "mysql":
        pytest.skip("MariaDB connection faults")
    exp = Experimenter(make_config(parameters={"x": {"start": 0, "stop": 10}}))
    exp.fill_table_from_config()
    store = exp.store
    assert isinstance(store, MySQLStore)
    yield exp, store
    exp.close()


def _lose_next_commit_reply(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The next COMMIT lands on the server, but its reply is lost with the connection."""
    lost: list[int] = []
    real = pymysql.connections.Connection.commit

    def commit(self: Any) -> None:
        real(self)
        if not lost:
            lost.append(1)
            self.close()
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    monkeypatch.setattr(pymysql.connections.Connection, "commit", commit)
    return lost


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_claim_whose_commit_reply_was_lost_is_not_claimed_twice(
    mysql_store: tuple[Experimenter, MySQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    exp, store = mysql_store
    lost = _lose_next_commit_reply(monkeypatch)
    claims = store.claim(WorkerIdentity("w", "h", 1), 3)
    assert lost, "the fault was not injected"
    assert len(claims) == 3 and len({c.token for c in claims}) == 1
    table = exp.get_table(keep_internal=True)
    running = table[table["status"] == "running"]
    assert sorted(running["ID"]) == sorted(c.id for c in claims)  # the claim ran once
    assert set(running["pyexp_token"]) == {claims[0].token}
    assert len(exp.get_attempts()) == 3

    # The same for the result: the retried finish sees its own landed write.
    lost.clear()
    landed = store.finish(claims[0].token, [(c.id, {"value": 1.0}) for c in claims])
    assert lost and landed == {c.id for c in claims}
    attempts = exp.get_attempts()
    assert list(attempts["outcome"]) == ["done"] * 3


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
@pytest.mark.parametrize("code", [1213, 1205])
def test_deadlock_and_lock_wait_timeout_are_retried(
    mysql_store: tuple[Experimenter, MySQLStore], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    exp, store = mysql_store
    real = MySQLSession.run
    failed: list[str] = []

    def run(self: MySQLSession, cur: Any, name: str, args: Any = (), **kwargs: Any) -> Any:
        if name == "claim_mark" and not failed:  # after the claim's SELECT ... FOR UPDATE
            failed.append(name)
            raise pymysql.err.OperationalError(code, "injected")
        return real(self, cur, name, args, **kwargs)

    monkeypatch.setattr(MySQLSession, "run", run)
    claims = store.claim(WorkerIdentity("w", "h", 1), 2)
    assert failed and len(claims) == 2
    table = exp.get_table()
    assert (table["status"] == "running").sum() == 2 and set(table["pyexp_attempts"]) == {0, 1}
    assert len(exp.get_attempts()) == 2


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_heartbeats_go_on_while_a_write_is_retried(
    make_config: ConfigMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result write deadlocks again and again for longer than the stale limit (4 s), and
    until another store has swept for lost runs a dozen times: the heartbeat thread uses the
    connection during the back-off, so the run is never declared lost and its result lands
    once. The storm ends on those two conditions, not on the clock alone, so a busy machine
    (fewer sweeps a second) only makes it longer."""
    record = Record(tmp_path / "executions.txt")
    path = make_config(experiment={"heartbeat_seconds": 0.5, "stale_after_seconds": 4},
                       parameters={"x": [5]}, custom={"record": str(record.path)})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    config = exp.config
    exp.close()
    real = MySQLSession.run
    storm = {"until": 0.0, "deadlocks": 0}
    swept: list[int] = []

    def run(self: MySQLSession, cur: Any, name: str, args: Any = (), **kwargs: Any) -> Any:
        if name in ("finish_done", "finish_done_counted"):  # the latter where a finish counts its rows
            if not storm["until"]:
                storm["until"] = time.monotonic() + 5.0
            if time.monotonic() < storm["until"] or len(swept) <= 12:
                storm["deadlocks"] += 1
                raise pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock (injected)")
        return real(self, cur, name, args, **kwargs)

    monkeypatch.setattr(MySQLSession, "run", run)
    halt = threading.Event()

    def sweep() -> None:
        with Experimenter(path) as other:
            while not halt.wait(0.2):
                swept.append(other.recover())

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        stats = Worker(config, experiments.tracked).run()
    finally:
        halt.set()
        sweeper.join()
    assert storm["deadlocks"] >= 2 and stats.done == 1 and stats.fenced == 0
    assert len(swept) > 10 and sum(swept) == 0
    row = exp.get_table().iloc[0]
    assert row["status"] == "done" and int(row["pyexp_attempts"]) == 1
    assert list(exp.get_attempts()["outcome"]) == ["done"]
    exp.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_database_is_locked_is_retried(make_config: ConfigMaker, tmp_path: Path) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    store = exp.store
    store.session.connection().execute("PRAGMA busy_timeout = 0")  # no waiting inside SQLite: "database is locked"
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(tmp_path / "experiments.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(5)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    locked.wait(5)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    claims = store.claim(WorkerIdentity("w", "h", 1), 2)
    took = time.monotonic() - started
    holder.join()
    assert len(claims) == 2 and took >= 0.4
    exp.close()
