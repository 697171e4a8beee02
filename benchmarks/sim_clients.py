"""The client side of the simulation: many worker loops as threads, each with its own store.

Each thread is one simulated worker and drives a real `MySQLStore` (so its own connection,
and the project's own claim, heartbeat and finish SQL): claim one row, "run" it by sleeping,
beat on a fixed schedule while it runs, finish it. A real worker beats from a second thread
that shares the connection; here the worker's own thread beats between sleeps, which sends
the same statements without doubling the thread count. Beats follow a fixed schedule
(`phase + k * interval`), so how late each one lands is measurable: that is the heartbeat lag.

With `release`, a worker closes its connection after each claim and each beat, so it holds
none while its experiment runs (the store reconnects on its next call): the design change
docs/scale.md weighs against one held connection per worker.

Threads are spread over a few processes so the client side is not one GIL.

pymysql >= 1.2 tries TLS by default and builds a new SSL context for every connection,
loading the system's CA store: about 20 ms of client CPU per connect, which would make a
connect-per-operation run measure the simulation's own CPU. Each client process here
builds that default context once and shares it (`share_ssl_context`); a server without TLS
never uses it. docs/scale.md says what this means for a real worker.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pymysql

from pyexperimenter.config import DatabaseConfig
from pyexperimenter.sqltypes import SqlType
from pyexperimenter.store.backends.mysql import MySQLStore
from pyexperimenter.store.types import TableSchema, WorkerIdentity

TABLE = "sim"
SCHEMA = TableSchema(name=TABLE, parameters={"dataset": SqlType("VARCHAR(32)", "str"), "seed": SqlType("INT", "int")},
                     results={"score": SqlType("DOUBLE", "float")})


@dataclass(frozen=True)
class Spec:
    """What every client of one run does; times are seconds on the wall clock (time.time())."""

    host: str
    port: int
    user: str
    password: str
    database: str
    length: float  # mean experiment length; each is uniform in [0.5, 1.5] x this
    heartbeat: float
    measure_from: float = float("inf")  # operations starting before this are the warm-up
    stop_at: float = float("inf")
    release: bool = False
    ramp: float = 0.0  # workers start uniformly over this many seconds, as array tasks do
    stale_after: float = 0.0  # 0: four heartbeats, the default config's 120 s / 30 s

    @property
    def stale_seconds(self) -> float:
        return self.stale_after or 4 * self.heartbeat

    @property
    def sweep_every(self) -> float:
        """As Worker._recover_if_due: a sweep before a claim, at most every this often."""
        return max(1.0, min(self.stale_seconds / 2, 30.0))


def open_store(spec: Spec, create: bool = False) -> MySQLStore:
    db = DatabaseConfig(kind="mysql", host=spec.host, port=spec.port, user=spec.user,
                        password=spec.password or None, database=spec.database)
    # Patience of a minute: a run that cannot get a connection should fail, not wait 30 minutes.
    return MySQLStore(SCHEMA, db, "simulate", create=create, first_connect_patience=60.0, patience=60.0)


@dataclass
class Record:
    """One process's measurements; plain lists so they pickle back to the parent."""

    claim: list[float] = field(default_factory=list)
    first_claim: list[float] = field(default_factory=list)  # every client at once: the start-up storm
    finish: list[float] = field(default_factory=list)
    sweep: list[float] = field(default_factory=list)  # requeue_stale(), as every worker calls it
    requeued: int = 0  # rows a sweep found lost: there should be none
    beat: list[float] = field(default_factory=list)  # the UPDATE's own latency
    lag: list[float] = field(default_factory=list)  # completion - schedule
    missed: int = 0  # scheduled beats skipped because the previous one was still late
    empty: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    connect_seconds: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process, during the measured window

    def merge(self, other: Record) -> None:
        for name in ("claim", "first_claim", "finish", "sweep", "beat", "lag", "connect_seconds"):
            getattr(self, name).extend(getattr(other, name))
        self.missed += other.missed
        self.requeued += other.requeued
        self.empty += other.empty
        self.errors.update(other.errors)
        self.cpu_seconds += other.cpu_seconds


class Client:
    def __init__(self, spec: Spec, name: str, record: Record, lock: threading.Lock):
        self.spec, self.record, self.lock = spec, record, lock
        self.rng = random.Random(name)
        self.who = WorkerIdentity(worker=name, machine=f"node{self.rng.randrange(10_000 // 32)}", pid=os.getpid())
        started = time.perf_counter()
        self.store = open_store(spec)
        self.connect_seconds = time.perf_counter() - started
        if spec.release:
            self.store.close()

    def _keep(self, name: str, value: float, started_at: float) -> None:
        if self.spec.measure_from <= started_at < self.spec.stop_at:
            with self.lock:
                getattr(self.record, name).append(value)

    def _timed(self, what: str, call: Any, *args: Any) -> tuple[Any, float, float]:
        at, started = time.time(), time.perf_counter()
        result = call(*args)
        took = time.perf_counter() - started
        self._keep(what, took, at)
        if self.spec.release and what not in ("finish", "sweep"):  # the claim follows at once
            self.store.close()
        return result, took, at

    def run(self, start_at: float) -> None:
        spec = self.spec
        start_at += self.rng.uniform(0, spec.ramp)
        next_beat = start_at + self.rng.uniform(0, spec.heartbeat)  # heartbeat threads start anywhere
        time.sleep(max(0.0, start_at - time.time()))
        first = True
        last_sweep = time.time() - self.rng.uniform(0, spec.sweep_every)  # workers started at different times
        while time.time() < self.spec.stop_at:
            spec = self.spec
            try:
                if time.time() - last_sweep >= spec.sweep_every:
                    last_sweep = time.time()
                    n, _, _ = self._timed("sweep", self.store.requeue_stale, spec.stale_seconds, 3)
                    if n:
                        with self.lock:
                            self.record.requeued += n
                claims, took, _ = self._timed("claim", self.store.claim, self.who, 1)
                if first:
                    with self.lock:
                        self.record.first_claim.append(took)
                if not claims:
                    if spec.measure_from <= time.time() < spec.stop_at:
                        with self.lock:
                            self.record.empty += 1
                    time.sleep(0.5)
                    continue
                # The first experiment is a residual one, so the run starts in steady state.
                length = spec.length * (self.rng.random() if first else self.rng.uniform(0.5, 1.5))
                first = False
                next_beat = self._experiment(claims[0], time.time() + length, next_beat)
            except Exception as e:  # count it, carry on: a simulation reports failures, it does not stop
                with self.lock:
                    self.record.errors[f"{type(e).__name__}: {str(e)[:80]}"] += 1
                time.sleep(1.0)
        self.store.close()

    def _experiment(self, claim: Any, end: float, next_beat: float) -> float:
        spec = self.spec
        while True:
            now = time.time()
            if now >= spec.stop_at:
                return next_beat
            wake = min(end, next_beat, spec.stop_at, now + 1.0)  # the window's end may move
            if wake > now:
                time.sleep(wake - now)
                spec = self.spec
                continue
            if now >= end:
                break
            self._beat(claim.token, next_beat)
            next_beat += spec.heartbeat
            late = time.time()
            while next_beat < late:  # a beat that landed more than an interval late
                next_beat += spec.heartbeat
                if spec.measure_from <= late < spec.stop_at:
                    with self.lock:
                        self.record.missed += 1
        self._timed("finish", self.store.finish, claim.token, [(claim.id, {"score": self.rng.random()})])
        return next_beat

    def _beat(self, token: str, scheduled: float) -> None:
        _, _, at = self._timed("beat", self.store.heartbeat, token)
        self._keep("lag", time.time() - scheduled, at)


def share_ssl_context() -> None:
    """Build pymysql's default (TLS-preferred) SSL context once per process, not per connect."""
    connection = pymysql.connections.Connection
    original = connection._create_ssl_ctx
    made: dict[str, Any] = {}

    def once(self: Any, sslp: Any) -> Any:
        if sslp:  # explicit TLS options: leave them alone
            return original(self, sslp)
        if "default" not in made:
            made["default"] = original(self, sslp)
        return made["default"]

    connection._create_ssl_ctx = once


def child(index: int, spec: Spec, clients: int, pipe: Any) -> None:
    """One process: connect `clients` workers, say ready, run from the start time sent back."""
    threading.stack_size(256 * 1024)
    share_ssl_context()
    record, lock = Record(), threading.Lock()
    made: list[Client] = []

    def connect(i: int) -> None:
        try:
            c = Client(spec, f"sim{index}-{i}", record, lock)
        except Exception as e:
            with lock:
                record.errors[f"connect: {type(e).__name__}: {str(e)[:80]}"] += 1
            return
        with lock:
            made.append(c)
            record.connect_seconds.append(c.connect_seconds)

    try:
        # Connect in waves of 64 threads: a cluster's array tasks start over seconds, not at once.
        for wave in range(0, clients, 64):
            threads = [threading.Thread(target=connect, args=(i,)) for i in range(wave, min(clients, wave + 64))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        pipe.send(("ready", len(made)))
        start_at = pipe.recv()
        runners = [threading.Thread(target=c.run, args=(start_at,)) for c in made]
        for t in runners:
            t.start()
        # The parent sends the measured window once every client has its first row.
        measure_from, stop_at = pipe.recv()
        live = replace(spec, measure_from=measure_from, stop_at=stop_at)
        for c in made:
            c.spec = live
        time.sleep(max(0.0, measure_from - time.time()))
        cpu0 = time.process_time()
        time.sleep(max(0.0, stop_at - time.time()))
        record.cpu_seconds = time.process_time() - cpu0
        for t in runners:
            t.join()
        pipe.send(("done", record))
    except Exception:
        pipe.send(("failed", traceback.format_exc()))
