#!/usr/bin/env python
"""Performance benchmarks for pyexperimenter (issue 6), optionally against PyExperimenter 1.4.2.

    python benchmarks/bench.py [--quick] [--only throughput,fill,latency,heartbeat,startup]
                               [--compare-pyexperimenter] [--mysql URL] [--json out.json]

Every workload runs in a fresh child process (so peak memory is the workload's own) against
a fresh MariaDB database or a fresh SQLite file in a temporary folder, through the public API
(`Experimenter(config).fill_table_from_config()`, `.execute(fn, n_jobs=N)`); the claim-latency
and heartbeat workloads also drive the store directly. Databases are dropped afterwards.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCE_VERSION = "1.4.2"
DEFAULT_MYSQL = os.environ.get("PYEXP_BENCH_MYSQL") or os.environ.get("PYEXP_TEST_MYSQL") or "mysql://root@127.0.0.1:3306"
DEFAULT_POSTGRES = (os.environ.get("PYEXP_BENCH_POSTGRES") or os.environ.get("PYEXP_TEST_POSTGRES")
                    or "postgresql://postgres@127.0.0.1:5432")
DEFAULT_ENV = HERE / ".envs" / f"py-experimenter-{REFERENCE_VERSION}"
SECTIONS = ("throughput", "fill", "latency", "heartbeat", "startup")
CHILD_TIMEOUT = 420.0

# What each mode runs. Sizes on PyExperimenter's side are the ones the issue measured
# (its fill is quadratic and its workers manage about 20 experiments/s on MariaDB).
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "repeat": 2,
        "throughput": [("mysql", 16, 10_000), ("mysql", 4, 10_000), ("sqlite", 4, 10_000)],
        "throughput_ref": {("mysql", 16): 2_000, ("mysql", 4): 2_000, ("sqlite", 4): 400},
        "reference_seconds": 60,  # PyExperimenter's runs stop after this long; rate = rows done / time
        "floor": [(16, 1, 10_000), (16, 16, 10_000)],
        "latency": (64, 50),  # workers, rows per worker (single-row claim loop and bare-SQL floor)
        "latency_workers": (64, 200),  # real workers: rows per worker, so each makes many (batched) claims
        "latency_busy_per_worker": 8,
        "fill": [("mysql", 20_000), ("mysql", 100_000), ("mysql", 1_000_000), ("sqlite", 100_000), ("sqlite", 1_000_000)],
        "fill_repeat": {20_000, 100_000},  # sizes measured `repeat` times; the others once
        "fill_floor": [100_000, 1_000_000],
        "fill_ref": 20_000,
        "heartbeat": {"workers": 16, "interval": 1.0, "run_seconds": 6.0},
        "startup_runs": 9,
    },
    "quick": {
        "repeat": 1,
        "throughput": [("mysql", 16, 3_000), ("sqlite", 4, 3_000)],
        "throughput_ref": {("mysql", 16): 2_000, ("sqlite", 4): 400},
        "reference_seconds": 15,
        "floor": [(16, 1, 3_000)],
        "latency": (64, 15),
        "latency_workers": (64, 60),
        "latency_busy_per_worker": 4,
        "fill": [("mysql", 20_000), ("mysql", 100_000), ("sqlite", 100_000)],
        "fill_repeat": set(),
        "fill_floor": [100_000],
        "fill_ref": 20_000,
        "heartbeat": {"workers": 8, "interval": 1.0, "run_seconds": 3.0},
        "startup_runs": 5,
    },
}


# ============================================================================ shared helpers


class MySQLTarget:
    """The server from --mysql; each workload gets its own throw-away database."""

    def __init__(self, url: str):
        parts = urlsplit(url if "://" in url else "mysql://" + url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.user = unquote(parts.username) if parts.username else "root"
        self.password = unquote(parts.password) if parts.password else os.environ.get("PYEXP_DB_PASSWORD", "")

    def connect(self, database: str | None = None, **kwargs: Any) -> Any:
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, connect_timeout=10, **kwargs)

    def url(self, database: str) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def create(self) -> str:
        name = f"pyexp_bench_{uuid.uuid4().hex[:10]}"
        conn = self.connect(autocommit=True)
        try:
            conn.cursor().execute(f"CREATE DATABASE `{name}`")
        finally:
            conn.close()
        return name

    def drop(self, name: str) -> None:
        conn = self.connect(autocommit=True)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()

    def version(self) -> str:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT VERSION()")
            return str(cur.fetchone()[0])
        finally:
            conn.close()


class PostgresTarget:
    """The PostgreSQL server from --postgres; each workload gets its own throw-away database."""

    def __init__(self, url: str):
        parts = urlsplit(url if "://" in url else "postgresql://" + url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = unquote(parts.username) if parts.username else "postgres"
        self.password = unquote(parts.password) if parts.password else os.environ.get("PYEXP_DB_PASSWORD")

    def connect(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=database, connect_timeout=10, autocommit=True)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create(self) -> str:
        name = f"pyexp_bench_{uuid.uuid4().hex[:10]}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(result: dict[str, Any]) -> None:
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def write_config(workdir: Path, url: str, parameters: dict[str, Any], heartbeat: float = 30.0,
                 stale: float | None = None, name: str = "bench") -> Path:
    import yaml

    experiment: dict[str, Any] = {"name": name, "heartbeat_seconds": heartbeat}
    if stale is not None:
        experiment["stale_after_seconds"] = stale
    path = workdir / f"{name}.yml"
    path.write_text(yaml.safe_dump({
        "experiment": experiment,
        "database": {"url": url},
        "parameters": parameters,
        "results": {"r": "INT"},
    }, sort_keys=False))
    return path


def fill_grid(n: int) -> dict[str, Any]:
    """A realistic grid of n rows (n a multiple of 1,000): 10 datasets x n/1000 seeds x 100 Cs."""
    return {
        "dataset": [f"dataset{i}" for i in range(10)],
        "seed": {"start": 0, "stop": max(1, n // 1000)},
        "C": [round(0.01 * i, 2) for i in range(100)],
    }


# ============================================================================ child workloads


def noop(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> None:
    """The no-op experiment."""
    return None


def task_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    from pyexperimenter import Experimenter

    n, jobs = int(spec["n"]), int(spec["jobs"])
    config = write_config(Path(spec["workdir"]), spec["url"], {"i": {"start": 0, "stop": n}})
    with Experimenter(config) as e:
        e.fill_table_from_config()
    e = Experimenter(config)
    started = time.perf_counter()
    codes = e.execute(noop, n_jobs=jobs)
    seconds = time.perf_counter() - started
    counts = e.counts()
    attempts = len(e.store.rows(e.store.schema.attempts_table))
    e.close()
    ok = counts["done"] == n and attempts == n and all(c == 0 for c in codes)
    return {"n": n, "jobs": jobs, "seconds": seconds, "rate": counts["done"] / seconds, "counts": counts,
            "attempt_rows": attempts, "exit_codes": sorted(set(codes)), "ok": ok}


def _floor_worker(target: MySQLTarget, database: str, batch: int, barrier: Any, out: Any) -> None:
    conn = target.connect(database, autocommit=False)
    cur = conn.cursor()
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    conn.commit()
    me = f"{platform.node()}:{os.getpid()}"
    claim_s: list[float] = []
    total_s: list[float] = []
    done = 0
    barrier.wait()
    while True:
        t0 = time.perf_counter()
        cur.execute("SELECT id FROM floor_t WHERE status = 'created' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (batch,))
        ids = [r[0] for r in cur.fetchall()]
        if not ids:
            conn.commit()
            break
        token = uuid.uuid4().hex
        marks = ",".join(["%s"] * len(ids))
        cur.execute(f"UPDATE floor_t SET status = 'running', token = %s, worker = %s, start_date = NOW(6) "
                    f"WHERE id IN ({marks})", (token, me, *ids))
        conn.commit()
        t1 = time.perf_counter()
        cur.execute(f"UPDATE floor_t SET status = 'done', end_date = NOW(6) "
                    f"WHERE id IN ({marks}) AND token = %s AND status = 'running'", (*ids, token))
        conn.commit()
        claim_s.append(t1 - t0)
        total_s.append(time.perf_counter() - t0)
        done += len(ids)
    conn.close()
    out.put((done, claim_s, total_s))


def _latency_figures(claim: list[float], total: list[float]) -> dict[str, float]:
    ms = 1000.0
    return {
        "claim_p50_ms": percentile(claim, 0.5) * ms, "claim_p99_ms": percentile(claim, 0.99) * ms,
        "claim_max_ms": max(claim, default=float("nan")) * ms,
        "total_p50_ms": percentile(total, 0.5) * ms, "total_p99_ms": percentile(total, 0.99) * ms,
        "total_max_ms": max(total, default=float("nan")) * ms,
    }


def task_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare-SQL floor: a minimal pymysql SKIP LOCKED claim (one transaction) + finish
    (another) loop in N processes on a table of its own; also its per-experiment latency."""
    target = MySQLTarget(spec["mysql"])
    n, procs, batch = int(spec["n"]), int(spec["procs"]), int(spec["batch"])
    conn = target.connect(spec["database"], autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE floor_t (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                "status VARCHAR(16) NOT NULL DEFAULT 'created', token CHAR(32) DEFAULT NULL, "
                "worker VARCHAR(255) DEFAULT NULL, start_date DATETIME(6) DEFAULT NULL, "
                "end_date DATETIME(6) DEFAULT NULL, INDEX ix_status (status, id)) ENGINE=InnoDB")
    for start in range(0, n, 10_000):
        cur.execute("INSERT INTO floor_t (status) VALUES " + ",".join(["('created')"] * min(10_000, n - start)))
    conn.close()
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=_floor_worker, args=(target, spec["database"], batch, barrier, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    done, claim, total = 0, [], []
    for _ in workers:
        d, c, t = out.get(timeout=CHILD_TIMEOUT)
        done, claim, total = done + d, claim + c, total + t
    seconds = time.perf_counter() - started
    for w in workers:
        w.join()
    return {"n": n, "procs": procs, "batch": batch, "seconds": seconds, "rate": done / seconds, "ok": done == n,
            **_latency_figures(claim, total)}


def _latency_worker(config_path: str, barrier: Any, out_path: str) -> None:
    from pyexperimenter.config import load_config
    from pyexperimenter.store import WorkerIdentity, open_store

    store = open_store(load_config(config_path), worker=True)
    who = WorkerIdentity.current()
    claim_s: list[float] = []
    total_s: list[float] = []
    barrier.wait()
    while True:
        t0 = time.perf_counter()
        claims = store.claim(who, 1)
        t1 = time.perf_counter()
        if not claims:
            break
        landed = store.finish(claims[0].token, [(claims[0].id, {})])
        t2 = time.perf_counter()
        assert landed == {claims[0].id}
        claim_s.append(t1 - t0)
        total_s.append(t2 - t0)
    store.close()
    Path(out_path).write_text(json.dumps({"claim": claim_s, "total": total_s}))


def _timed_claims(out_dir: Path) -> None:
    """Patch SqlStore.claim/finish (before the workers fork) to log each call's duration."""
    from pyexperimenter.store.engine.sqlstore import SqlStore

    claim, finish = SqlStore.claim, SqlStore.finish
    log: dict[str, list[float]] = {"claim": [], "finish": [], "claimed": []}

    def save() -> None:
        (out_dir / f"workers_{os.getpid()}.json").write_text(json.dumps(log))

    def timed_claim(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        got = claim(self, *args, **kwargs)
        log["claim"].append(time.perf_counter() - t0)
        log["claimed"].append(len(got))
        if not got:
            save()  # the worker's last claim; workers leave with os._exit, no atexit
        return got

    def timed_finish(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        got = finish(self, *args, **kwargs)
        log["finish"].append(time.perf_counter() - t0)
        return got

    SqlStore.claim = timed_claim  # type: ignore[method-assign]
    SqlStore.finish = timed_finish  # type: ignore[method-assign]


def task_latency(spec: dict[str, Any]) -> dict[str, Any]:
    """`store`: N processes each looping store.claim(1) + store.finish() back to back (a
    saturated closed loop). `workers`: N real workers (Experimenter.execute, no-op
    experiments), every claim() and finish() call they make timed."""
    from pyexperimenter import Experimenter

    workers, per_worker = int(spec["workers"]), int(spec["per_worker"])
    n = workers * per_worker
    workdir = Path(spec["workdir"])
    config = write_config(workdir, spec["url"], {"i": {"start": 0, "stop": n}})
    with Experimenter(config) as e:
        e.fill_table_from_config()
    claim: list[float] = []
    total: list[float] = []
    if spec["mode"] == "workers":
        _timed_claims(workdir)
        fn = _sleeper(float(spec["sleep"])) if spec.get("sleep") else noop
        started = time.perf_counter()
        codes = Experimenter(config).execute(fn, n_jobs=workers, random_order=bool(spec.get("random_order")))
        seconds = time.perf_counter() - started
        claimed = 0
        for out in workdir.glob("workers_*.json"):
            data = json.loads(out.read_text())
            claim += [t for t, k in zip(data["claim"], data["claimed"]) if k]
            total += data["finish"]
            claimed += sum(data["claimed"])
        figures = _latency_figures(claim, [])
        figures.update({"finish_p50_ms": percentile(total, 0.5) * 1000, "finish_p99_ms": percentile(total, 0.99) * 1000,
                        "rows_per_claim": claimed / max(1, len(claim))})
        return {"mode": "workers", "random_order": bool(spec.get("random_order")), "sleep": spec.get("sleep", 0),
                "workers": workers, "n": n, "claims": len(claim), "seconds": seconds,
                "rate": claimed / seconds, **figures, "ok": claimed == n and all(c == 0 for c in codes)}
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    outs = [str(workdir / f"latency_{i}.json") for i in range(workers)]
    procs = [ctx.Process(target=_latency_worker, args=(str(config), barrier, out)) for out in outs]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - started
    for out in outs:
        data = json.loads(Path(out).read_text())
        claim += data["claim"]
        total += data["total"]
    return {"mode": "store", "workers": workers, "n": n, "measured": len(total), "seconds": seconds,
            "rate": len(total) / seconds, **_latency_figures(claim, total), "ok": len(total) == n}


def task_fill(spec: dict[str, Any]) -> dict[str, Any]:
    from pyexperimenter import Experimenter

    n = int(spec["n"])
    config = write_config(Path(spec["workdir"]), spec["url"], fill_grid(n))
    import pyexperimenter.store  # noqa: F401 - imports are not part of the fill

    if spec["url"].startswith("mysql"):
        import pymysql  # noqa: F401
    base = rss_mib()
    e = Experimenter(config)
    started = time.perf_counter()
    added = e.fill_table_from_config()
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    added_again = e.fill_table_from_config()
    refill_seconds = time.perf_counter() - started
    rows = sum(v for k, v in e.counts().items() if k != "stale")
    e.close()
    return {"n": n, "added": added, "added_again": added_again, "rows": rows, "fill_seconds": fill_seconds,
            "refill_seconds": refill_seconds, "base_rss_mib": base, "peak_rss_mib": rss_mib(),
            "ok": added == n and added_again == 0 and rows == n}


def task_fill_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare-SQL floor for a fill: the same table (made by our store), the same
    multi-row `INSERT IGNORE` statements rendered beforehand, only their execution timed."""
    import hashlib
    import random

    from pyexperimenter.config import load_config
    from pyexperimenter.store import open_store

    n = int(spec["n"])
    config = load_config(write_config(Path(spec["workdir"]), spec["url"], fill_grid(n)))
    store = open_store(config, create=True)
    store.create()
    store.close()
    target = MySQLTarget(spec["mysql"])
    conn = target.connect(spec["database"], autocommit=False)
    cur = conn.cursor()
    rand = random.Random(1)
    statements = []
    head = "INSERT IGNORE INTO `bench` (`dataset`, `seed`, `C`, `pyexp_hash`, `pyexp_rank`, `status`, `creation_date`, `name`) VALUES "
    for start in range(0, n, 10_000):
        statements.append(head + ",".join(
            f"('dataset{i % 10}',{i // 1000},{(i % 100) / 100},'{hashlib.sha1(str(i).encode()).hexdigest()}',"
            f"{rand.randrange(2**31 - 1)},'created','2026-01-01 00:00:00','bench')"
            for i in range(start, min(n, start + 10_000))))
    timings = {}
    for label in ("fill", "refill"):
        started = time.perf_counter()
        for sql in statements:
            cur.execute(sql)
            conn.commit()
        timings[f"{label}_seconds"] = time.perf_counter() - started
    conn.close()
    return {"n": n, **timings, "ok": True}


class _StatementCounter:
    """Counts statements sent through pymysql, split by kind and by the sending thread."""

    KINDS = ("heartbeat_thread", "update", "select", "insert", "other")

    def __init__(self, shared: bool):
        if shared:  # visible across forked workers
            ctx = multiprocessing.get_context("fork")
            self.values = {k: ctx.Value("q", 0) for k in self.KINDS}
        else:
            self.values = {k: _Plain() for k in self.KINDS}

    def install(self) -> None:
        import pymysql.cursors

        original = pymysql.cursors.Cursor.execute
        counter = self

        def execute(cursor: Any, query: str, args: Any = None) -> Any:
            counter.count(query)
            return original(cursor, query, args)

        pymysql.cursors.Cursor.execute = execute  # type: ignore[method-assign]

    def count(self, query: str) -> None:
        head = query[:32].decode("latin-1") if isinstance(query, (bytes, bytearray)) else query[:32]
        word = head.lstrip()[:6].upper()
        kind = {"UPDATE": "update", "SELECT": "select", "INSERT": "insert"}.get(word, "other")
        if threading.current_thread().name == "pyexp-heartbeat":
            kind = "heartbeat_thread" if word == "UPDATE" else "other"
        value = self.values[kind]
        with value.get_lock():
            value.value += 1

    def snapshot(self) -> dict[str, int]:
        return {k: int(v.value) for k, v in self.values.items()}


class _Plain:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock


def _sleeper(seconds: float) -> Callable[..., None]:
    def fn(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> None:
        time.sleep(seconds)

    return fn


def _com_update(target: MySQLTarget) -> int:
    conn = target.connect()
    try:
        cur = conn.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Com_update'")
        return int(cur.fetchone()[1])
    finally:
        conn.close()


def task_heartbeat(spec: dict[str, Any]) -> dict[str, Any]:
    """(a) One store, claims of 1 and 16 rows, a heartbeat thread beating every 0.2 s: UPDATE
    statements per beat. (b) N real workers running experiments that sleep, heartbeat every
    `interval` s: heartbeat writes per worker per interval, projected to 1,000 workers at 30 s."""
    from pyexperimenter import Experimenter
    from pyexperimenter.store import WorkerIdentity, open_store
    from pyexperimenter.worker import Heartbeat

    workdir = Path(spec["workdir"])
    target = MySQLTarget(spec["mysql"])
    out: dict[str, Any] = {"ok": True}

    # (a) statements per beat, by claim size
    local = _StatementCounter(shared=False)
    local.install()
    config = write_config(workdir, spec["url"], {"i": {"start": 0, "stop": 64}}, name="beat")
    with Experimenter(config) as e:
        e.fill_table_from_config()
        store = open_store(e.config, worker=True)
    per_batch = {}
    for batch in (1, 16):
        claims = store.claim(WorkerIdentity.current(), batch)
        beats: list[int] = []
        original = store.heartbeat

        def counted(token: str, _original: Any = original, _beats: list[int] = beats) -> int:
            n = _original(token)
            _beats.append(n)
            return n

        store.heartbeat = counted  # type: ignore[method-assign]
        before = local.snapshot()
        hb = Heartbeat(store, 0.2)
        hb.token = claims[0].token
        hb.start()
        time.sleep(1.1)
        hb.stop()
        hb.join()
        after = local.snapshot()
        store.heartbeat = original  # type: ignore[method-assign]
        statements = after["heartbeat_thread"] - before["heartbeat_thread"]
        other = after["other"] - before["other"]
        per_batch[str(batch)] = {
            "claimed": len(claims), "beats": len(beats), "rows_refreshed_per_beat": beats[0] if beats else 0,
            "update_statements": statements, "other_statements": other,
            "updates_per_beat": statements / max(1, len(beats)),
        }
        store.release(claims[0].token, [c.id for c in claims])
    store.close()
    out["per_batch"] = per_batch
    out["ok"] = all(v["updates_per_beat"] == 1.0 and v["rows_refreshed_per_beat"] == int(k) for k, v in per_batch.items())

    # (b) real workers, idle-running
    workers, interval, run_seconds = int(spec["workers"]), float(spec["interval"]), float(spec["run_seconds"])
    shared = _StatementCounter(shared=True)
    shared.install()
    config = write_config(workdir, spec["url"], {"i": {"start": 0, "stop": workers}}, heartbeat=interval,
                          stale=max(10.0, 4 * interval), name="idle")
    e = Experimenter(config)
    e.fill_table_from_config()
    e.close()
    before, com_before = shared.snapshot(), _com_update(target)
    started = time.perf_counter()
    codes = e.execute(_sleeper(run_seconds), n_jobs=workers)
    seconds = time.perf_counter() - started
    after, com_after = shared.snapshot(), _com_update(target)
    counts = e.counts()
    e.close()
    delta = {k: after[k] - before[k] for k in after}
    intervals = workers * run_seconds / interval  # heartbeat intervals spent running, over all workers
    per_interval = delta["heartbeat_thread"] / intervals
    out["workers"] = {
        "workers": workers, "interval_s": interval, "run_seconds": run_seconds, "wall_seconds": seconds,
        "statements": delta, "heartbeat_updates_per_worker_interval": per_interval,
        "measured_projection_writes_per_s_1000_workers_30s": 1000 / 30.0 * per_interval,
        "com_update_delta_server_wide": com_after - com_before,
        "ok": counts["done"] == workers and all(c == 0 for c in codes),
    }
    # Steady state: every running worker sends (statements per beat) UPDATEs each interval,
    # whatever the size of its claim; the measured rate is a little lower (no beat before the
    # first interval ends), so the projection uses the steady-state figure.
    worst_per_beat = max(v["updates_per_beat"] for v in per_batch.values())
    out["projected_writes_per_s"] = 1000 / 30.0 * max(worst_per_beat, per_interval)
    return out


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "throughput": task_throughput,
    "floor": task_floor,
    "latency": task_latency,
    "fill": task_fill,
    "fill_floor": task_fill_floor,
    "heartbeat": task_heartbeat,
}


def child_main(spec_json: str) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    spec = json.loads(spec_json)
    emit(TASKS[spec["task"]](spec))


# ============================================================================ the driver


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.mysql = MySQLTarget(args.mysql)
        self.plan = PLANS["quick" if args.quick else "full"]
        self.repeat = args.repeat or self.plan["repeat"]
        self.t0 = time.perf_counter()
        self.results: dict[str, Any] = {}
        self.ref_python: str | None = None

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    # --- running children
    def _run(self, command: list[str], cwd: Path | None = None) -> dict[str, Any]:
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=cwd)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {CHILD_TIMEOUT:.0f}s"}
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH_RESULT "):
                return dict(json.loads(line[len("BENCH_RESULT "):]))
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"ok": False, "error": f"exit {proc.returncode}: " + " | ".join(tail)}

    def ours(self, spec: dict[str, Any], backend: str = "mysql") -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="pyexp-bench-") as tmp:
            database = self.mysql.create() if backend == "mysql" else None
            try:
                url = self.mysql.url(database) if database else f"sqlite:///{tmp}/bench.db"
                full = {**spec, "workdir": tmp, "url": url, "mysql": self.args.mysql, "database": database}
                return self._run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(full)])
            finally:
                if database:
                    self.mysql.drop(database)

    def theirs(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.ref_python is not None
        with tempfile.TemporaryDirectory(prefix="pyexp-bench-ref-") as tmp:
            database = self.mysql.create() if spec["provider"] == "mysql" else f"bench_{uuid.uuid4().hex[:8]}"
            try:
                full = {**spec, "workdir": tmp, "database": database, "host": self.mysql.host,
                        "user": self.mysql.user, "password": self.mysql.password}
                command = [self.ref_python, str(HERE / "pyexperimenter_side.py"), json.dumps(full)]
                if spec["mode"] == "throughput":
                    return self._run_capped(command, Path(tmp), spec, database)
                return self._run(command, cwd=Path(tmp))
            finally:
                if spec["provider"] == "mysql":
                    self.mysql.drop(database)

    def _run_capped(self, command: list[str], workdir: Path, spec: dict[str, Any], database: str) -> dict[str, Any]:
        """PyExperimenter's throughput run, stopped after `reference_seconds` of executing:
        then its processes are killed and the rate is the rows done over the time spent."""
        proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        started_file, limit = workdir / "started", float(self.plan["reference_seconds"])
        deadline = time.time() + CHILD_TIMEOUT
        while proc.poll() is None and time.time() < deadline:
            if started_file.exists() and started_file.read_text().strip():
                if time.time() - float(started_file.read_text()) >= limit:
                    break
            time.sleep(0.2)
        if proc.poll() is not None:
            stdout, stderr = proc.communicate()
            for line in stdout.splitlines():
                if line.startswith("BENCH_RESULT "):
                    return dict(json.loads(line[len("BENCH_RESULT "):]))
            return {"ok": False, "error": f"exit {proc.returncode}: " + " | ".join(stderr.strip().splitlines()[-5:])}
        stopped = time.time()
        os.killpg(proc.pid, 9)  # the side script and its joblib workers: its own session
        proc.communicate()
        if not started_file.exists():
            return {"ok": False, "error": "PyExperimenter did not start executing in time"}
        seconds = stopped - float(started_file.read_text())
        if spec["provider"] == "mysql":
            conn = self.mysql.connect(database)
            try:
                cur = conn.cursor()
                cur.execute("SELECT COUNT(*) FROM bench WHERE status = 'done'")
                done = int(cur.fetchone()[0])
            finally:
                conn.close()
        else:
            import sqlite3

            with sqlite3.connect(workdir / f"{database}.db") as conn:
                done = int(conn.execute("SELECT COUNT(*) FROM bench WHERE status = 'done'").fetchone()[0])
        return {"n": spec["n"], "jobs": spec["jobs"], "seconds": seconds, "rate": done / seconds, "done": done,
                "stopped_after_s": limit, "ok": done > 0}

    def repeated(self, label: str, key: str, run: Callable[[], dict[str, Any]], times: int | None = None) -> dict[str, Any]:
        """Run `times` times; the reported figure is the median of `key`, every sample is kept."""
        samples = []
        for i in range(times or self.repeat):
            r = run()
            samples.append(r)
            shown = f"{r[key]:.3f}" if key in r else r.get("error", "?")
            self.log(f"{label} #{i + 1}: {key} = {shown}")
        good = [s for s in samples if s.get("ok") and key in s]
        if not good:
            return {"ok": False, "samples": samples, "error": samples[-1].get("error", "check failed")}
        best = dict(good[0])
        best[key] = statistics.median(s[key] for s in good)
        best["samples"] = [s.get(key) for s in samples]
        return best

    # --- PyExperimenter's own environment
    def reference_env(self) -> str | None:
        env = Path(self.args.pyexperimenter_env) if self.args.pyexperimenter_env else DEFAULT_ENV
        python = env / "bin" / "python"
        check = [str(python), "-c", "from importlib.metadata import version; print(version('py-experimenter'))"]
        ok = python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == REFERENCE_VERSION
        if not ok:
            if self.args.pyexperimenter_env:
                self.log(f"{env} has no py-experimenter {REFERENCE_VERSION}; skipping the comparison")
                return None
            self.log(f"installing py-experimenter=={REFERENCE_VERSION} into {env} (once) ...")
            env.parent.mkdir(parents=True, exist_ok=True)
            log_path = env.parent / f"install-{REFERENCE_VERSION}.log"
            with open(log_path, "w") as log:
                steps = [[sys.executable, "-m", "venv", str(env)],
                         [str(python), "-m", "pip", "install", "-q", f"py-experimenter=={REFERENCE_VERSION}"]]
                for step in steps:
                    if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                        self.log(f"installing py-experimenter failed (see {log_path}); skipping the comparison")
                        return None
        return str(python)

    # --- sections
    def run(self, sections: list[str]) -> None:
        if self.args.compare_pyexperimenter:
            self.ref_python = self.reference_env()
        for section in sections:
            getattr(self, f"section_{section}")()

    def section_throughput(self) -> None:
        out = self.results.setdefault("throughput", {})
        for backend, jobs, n in self.plan["throughput"]:
            key = f"{backend}_{jobs}w"
            spec = {"task": "throughput", "n": n, "jobs": jobs}
            out[key] = {"ours": self.repeated(f"throughput {key} ours n={n}", "rate", lambda s=spec, b=backend: self.ours(s, b))}
            ref_n = self.plan["throughput_ref"].get((backend, jobs))
            if self.ref_python and ref_n:
                spec = {"mode": "throughput", "provider": backend, "n": ref_n, "jobs": jobs}
                out[key]["theirs"] = self.repeated(f"throughput {key} PyExperimenter n={ref_n}", "rate",
                                                   lambda s=spec: self.theirs(s), times=1)
        floor = self.results.setdefault("floor", {})
        for procs, batch, n in self.plan["floor"]:
            spec = {"task": "floor", "n": n, "procs": procs, "batch": batch}
            floor[f"{procs}p_batch{batch}"] = self.repeated(f"bare SQL floor {procs} procs batch {batch}", "rate",
                                                            lambda s=spec: self.ours(s))

    def section_latency(self) -> None:
        out = self.results.setdefault("latency", {})
        workers, per_worker = self.plan["latency"]
        cases: dict[str, dict[str, Any]] = {
            # the brief's method: claim(1) + finish() back to back in every process (saturating)
            "store": {"task": "latency", "mode": "store", "workers": workers, "per_worker": per_worker},
            # the same loop in bare SQL: what the server and this machine allow
            "floor": {"task": "floor", "n": workers * per_worker, "procs": workers, "batch": 1},
        }
        workers, per_worker = self.plan["latency_workers"]
        real = {"task": "latency", "mode": "workers", "workers": workers, "per_worker": per_worker}
        cases["workers"] = real  # real workers, no-op experiments: batched claims, saturating
        cases["workers_random"] = {**real, "random_order": True}
        # real workers whose experiments take 0.5 s: 64 x 2 claims/s, the machine not saturated
        cases["workers_busy"] = {**real, "per_worker": self.plan["latency_busy_per_worker"], "sleep": 0.5}
        for name, spec in cases.items():
            out[name] = self.repeated(f"claim latency, {workers} workers, {name}", "claim_p99_ms",
                                      lambda s=spec: self.ours(s), times=None if name in ("store", "floor") else 1)

    def section_fill(self) -> None:
        out = self.results.setdefault("fill", {})
        for backend, n in self.plan["fill"]:
            spec = {"task": "fill", "n": n}
            times = self.repeat if n in self.plan["fill_repeat"] else 1
            out[f"{backend}_{n}"] = self.repeated(f"fill {backend} {n:,} ours", "fill_seconds",
                                                  lambda s=spec, b=backend: self.ours(s, b), times=times)
            if backend == "mysql" and n in self.plan["fill_floor"]:  # right after ours: same conditions
                out[f"floor_{n}"] = self.repeated(f"fill floor (bare INSERT IGNORE) {n:,}", "fill_seconds",
                                                  lambda n=n: self.ours({"task": "fill_floor", "n": n}), times=1)
        if self.ref_python:
            spec = {"mode": "fill", "provider": "mysql", "n": self.plan["fill_ref"]}
            out[f"theirs_mysql_{self.plan['fill_ref']}"] = self.repeated(
                f"fill mysql {self.plan['fill_ref']:,} PyExperimenter", "fill_seconds", lambda: self.theirs(spec), times=1)

    def section_heartbeat(self) -> None:
        spec = {"task": "heartbeat", **self.plan["heartbeat"]}
        self.results["heartbeat"] = self.repeated("heartbeat load", "projected_writes_per_s", lambda: self.ours(spec), times=1)

    def section_startup(self) -> None:
        pyexp = Path(sys.executable).parent / "pyexp"
        commands = {"pyexp_help": [str(pyexp), "--help"], "import": [sys.executable, "-c", "import pyexperimenter"]}
        out = {}
        for name, command in commands.items():
            times = []
            for _ in range(self.plan["startup_runs"]):
                started = time.perf_counter()
                subprocess.run(command, capture_output=True, check=True)
                times.append(time.perf_counter() - started)
            out[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}
            self.log(f"startup {name}: median {out[name]['median_s']:.3f}s")
        self.results["startup"] = out


# ============================================================================ report


def machine_info(mysql: MySQLTarget) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mariadb = mysql.version()
    except Exception as e:  # noqa: BLE001
        mariadb = f"unreachable ({e})"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pyexperimenter"], capture_output=True, text=True,
                               cwd=REPO).stdout.strip()
        commit += " (+ uncommitted changes)" if dirty else ""
    except OSError:
        commit = "unknown"
    import sqlite3

    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(), "cpu": cpu, "mariadb": mariadb, "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "platform": platform.platform(), "commit": commit,
        "loadavg_start": os.getloadavg(),
    }


def fmt(value: Any, spec: str = ".0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def build_table(results: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: C901 - one flat table of figures; split in the layout follow-up
    """Rows of (figure, ours, theirs, ratio, target, met)."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, ours: Any, theirs: Any = None, ratio: Any = None, target: str = "", met: bool | None = None,
            spec: str = ".0f") -> None:
        rows.append({"figure": figure, "ours": fmt(ours, spec), "theirs": fmt(theirs, spec),
                     "ratio": f"{ratio:.1f}x" if isinstance(ratio, (int, float)) else "-", "target": target,
                     "met": "-" if met is None else ("yes" if met else "NO")})

    tp = results.get("throughput", {})
    for key, label, goal in (("mysql_16w", "MariaDB, 16 workers", 1000), ("mysql_4w", "MariaDB, 4 workers", None),
                             ("sqlite_4w", "SQLite, 4 workers", 1000)):
        if key not in tp:
            continue
        ours, theirs = tp[key]["ours"], tp[key].get("theirs", {})
        rate, ref = ours.get("rate"), theirs.get("rate")
        ratio = rate / ref if rate and ref else None
        target, met = "", None
        if goal:
            target = f">= {goal}/s" + (" and >= 50x" if key == "mysql_16w" else "")
            met = bool(rate and rate >= goal and (key != "mysql_16w" or ratio is None or ratio >= 50))
        ref_n = f"{theirs.get('n', '-')}"
        if theirs.get("stopped_after_s"):
            ref_n = f"{theirs.get('done')} of {theirs.get('n')} done when stopped after {theirs['stopped_after_s']:.0f} s"
        add(f"throughput, {label}, no-op (exp/s; ours n={ours.get('n', '?')}, theirs n={ref_n})",
            rate, ref, ratio, target, met)
    for key, floor in results.get("floor", {}).items():
        add(f"bare-SQL floor: pymysql SKIP LOCKED claim+finish, {key.replace('_', ', ')} (exp/s)", floor.get("rate"))
    lat = results.get("latency", {})
    labels = {
        "store": "claim(1) + finish() loop, no-op, saturating (the issue's method)",
        "floor": "bare-SQL floor, the same loop in pymysql",
        "workers": "real workers, no-op, batched claims",
        "workers_random": "real workers, no-op, random_order=True",
        "workers_busy": "real workers, 0.5 s experiments (not saturating)",
    }
    for key, label in labels.items():
        entry = lat.get(key)
        if not entry:
            continue
        p99 = entry.get("claim_p99_ms")
        extra = ""
        if "total_p99_ms" in entry and entry.get("total_p99_ms") == entry.get("total_p99_ms"):
            extra = f"; claim+finish {fmt(entry.get('total_p50_ms'), '.0f')} / {fmt(entry.get('total_p99_ms'), '.0f')}"
        elif "finish_p99_ms" in entry:
            extra = f"; finish {fmt(entry.get('finish_p50_ms'), '.0f')} / {fmt(entry.get('finish_p99_ms'), '.0f')}"
        add(f"claim latency p50 / p99 (ms), {entry.get('workers', entry.get('procs', 64))} workers: {label}",
            f"{fmt(entry.get('claim_p50_ms'), '.1f')} / {fmt(p99, '.1f')}{extra}; {fmt(entry.get('rate'))} exp/s",
            target="p99 <= 50 ms", met=bool(p99 is not None and p99 == p99 and p99 <= 50))
    fill = results.get("fill", {})
    ref_key = next((k for k in fill if k.startswith("theirs_")), None)
    ref = fill.get(ref_key, {}) if ref_key else {}
    for key, entry in fill.items():
        if key.startswith("theirs_") or key.startswith("floor_"):
            continue
        backend, n = key.split("_")
        n = int(n)
        theirs = ref if ref and ref.get("n") == n else {}
        for what in ("fill", "refill"):
            ours_s, theirs_s = entry.get(f"{what}_seconds"), theirs.get(f"{what}_seconds")
            target, met = "", None
            if backend == "mysql" and n == 100_000:
                target, met = "<= 2 s", bool(ours_s is not None and ours_s <= 2)
            if backend == "mysql" and n == 1_000_000 and what == "fill":
                target, met = "<= 20 s", bool(ours_s is not None and ours_s <= 20)
            name = "MariaDB" if backend == "mysql" else "SQLite"
            add(f"{what} {n:,} rows, {name} (s)", ours_s, theirs_s,
                theirs_s / ours_s if ours_s and theirs_s else None, target, met, spec=".2f")
        if n >= 100_000:
            peak, goal = entry.get("peak_rss_mib"), backend == "mysql" and n >= 1_000_000
            add(f"peak RSS of the process, fill + refill {n:,} rows, {'MariaDB' if backend == 'mysql' else 'SQLite'} "
                f"(MiB; {fmt(entry.get('base_rss_mib'))} before filling)",
                peak, None, None, "<= 1024 MiB" if goal else "", bool(peak and peak <= 1024) if goal else None)
    for key, entry in fill.items():
        if key.startswith("floor_"):
            n = int(key.split("_")[1])
            add(f"bare-SQL floor: pre-rendered INSERT IGNORE {n:,} rows, fill / refill (s)",
                f"{fmt(entry.get('fill_seconds'), '.2f')} / {fmt(entry.get('refill_seconds'), '.2f')}")
    hb = results.get("heartbeat")
    if hb and "per_batch" in hb:
        per = hb["per_batch"]
        add("heartbeat UPDATE statements per beat, claim of 1 / of 16 rows",
            f"{fmt(per['1']['updates_per_beat'], '.2f')} / {fmt(per['16']['updates_per_beat'], '.2f')}", target="1 / 1",
            met=per["1"]["updates_per_beat"] == 1 and per["16"]["updates_per_beat"] == 1)
        w = hb["workers"]
        add(f"heartbeat writes per worker per interval ({w['workers']} running workers)",
            w["heartbeat_updates_per_worker_interval"], spec=".2f")
        projected = hb.get("projected_writes_per_s")
        add("heartbeat load, 1,000 running workers at 30 s (writes/s)", projected, target="<= 40/s",
            met=bool(projected is not None and projected <= 40), spec=".1f")
    st = results.get("startup")
    if st:
        add("`pyexp --help` wall time, median (s)", st["pyexp_help"]["median_s"], target="< 0.5 s",
            met=st["pyexp_help"]["median_s"] < 0.5, spec=".3f")
        add("`python -c 'import pyexperimenter'`, median (s)", st["import"]["median_s"], spec=".3f")
    return rows


def print_report(machine: dict[str, Any], rows: list[dict[str, Any]], seconds: float) -> None:
    print(f"\npyexperimenter benchmarks, {machine['date_utc']}, commit {machine['commit']}")
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}; MariaDB {machine['mariadb']}; "
          f"Python {machine['python']}; SQLite {machine['sqlite']}; load average at start "
          f"{', '.join(f'{x:.2f}' for x in machine['loadavg_start'])}")
    print(f"suite wall time: {seconds:.0f} s\n")
    print("| figure | ours | PyExperimenter 1.4.2 | ratio | target | met |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['ours']} | {r['theirs']} | {r['ratio']} | {r['target']} | {r['met']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repetition (under 2 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--compare-pyexperimenter", action="store_true",
                        help=f"also run py-experimenter=={REFERENCE_VERSION} (installed into {DEFAULT_ENV.relative_to(REPO)})")
    parser.add_argument("--pyexperimenter-env", help="an existing virtualenv with py-experimenter 1.4.2 to use instead")
    parser.add_argument("--mysql", default=DEFAULT_MYSQL, help=f"server URL, a user who may create databases (default {DEFAULT_MYSQL})")
    parser.add_argument("--repeat", type=int, help="repetitions of each of our measurements (default: 2, --quick: 1)")
    parser.add_argument("--json", help="write every measurement and sample to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; expected some of {','.join(SECTIONS)}")
    try:
        import pyexperimenter  # noqa: F401
    except ImportError:
        parser.error("pyexperimenter is not importable: run with the project's environment (.venv/bin/python)")
    runner = Runner(args)
    machine = machine_info(runner.mysql)
    runner.run(sections)
    machine["loadavg_end"] = os.getloadavg()
    seconds = time.perf_counter() - runner.t0
    rows = build_table(runner.results)
    print_report(machine, rows, seconds)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "mode": "quick" if args.quick else "full",
                                               "wall_seconds": seconds, "table": rows, "results": runner.results},
                                              indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
