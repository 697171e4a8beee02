#!/usr/bin/env python
"""Many concurrent workers on one MariaDB: claim latency, heartbeat lag and server load.

    python benchmarks/simulate.py [--quick] [--clients 500,1000,2000] [--lengths 1,10,60]
                                  [--heartbeat 2] [--seconds 40] [--release] [--json out.json]

A throw-away database gets a table of --rows rows (the real `fill`), then each run starts N
simulated workers (threads over a few processes, sim_clients.py), each driving the real
MySQLStore: claim one row, sleep for the experiment's length while beating every
--heartbeat seconds, finish it. The operation rates of a run are N / length claims (and
finishes) per second and N / heartbeat beats per second, so short lengths and intervals
stand in for many more workers with realistic ones (docs/scale.md: 2,000 clients beating
every 2 s send what 10,000 workers beating every 10 s send).

Per run: claim, finish and heartbeat latency, heartbeat lag (how late beats land against
their schedule), the first claim of every client at once (the start-up storm), and the
server's side: SHOW GLOBAL STATUS rates, Threads_connected/running, row-lock waits, mysqld's
CPU (from /proc, net of an idle baseline with every client connected) and memory per
connection. Finally the index sizes of the table and a least-squares split of mysqld's CPU
into per-operation costs, extrapolated to 10,000 workers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import DEFAULT_MYSQL, MySQLTarget, percentile  # noqa: E402
from sim_clients import TABLE, Record, Spec, child, open_store  # noqa: E402
from sim_server import GaugeSampler, Snapshot, connection_threads, index_sizes, mysqld_pid, proc_rss_mib  # noqa: E402

# (clients, experiment seconds, heartbeat seconds, release connection while running)
PLANS: dict[str, dict[str, Any]] = {
    "full": {"rows": 1_000_000, "settle": 4.0, "seconds": 25.0, "runs": [
        (500, 10.0, 2.0, False), (1000, 10.0, 2.0, False), (2000, 10.0, 2.0, False),
        (2000, 60.0, 2.0, False), (2000, 10.0, 2.0, True)]},
    "quick": {"rows": 200_000, "settle": 2.0, "seconds": 12.0, "runs": [
        (200, 5.0, 1.0, False), (500, 5.0, 1.0, False), (500, 5.0, 1.0, True)]},
}
BASELINE_SECONDS = 3.0
TARGET_WORKERS = 10_000


def log(message: str) -> None:
    print(f"[simulate {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fill(spec: Spec, rows: int) -> float:
    store = open_store(spec, create=True)
    try:
        store.create()
        started = time.perf_counter()
        store.insert_missing({"dataset": f"d{i % 10}", "seed": i} for i in range(rows))
        return time.perf_counter() - started
    finally:
        store.close()


def base_url(spec: Spec) -> str:
    return f"mysql://{spec.user}@{spec.host}:{spec.port}"


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000.0


def start_clients(spec: Spec, clients: int, procs: int) -> tuple[list[Any], list[Any], int]:
    ctx = multiprocessing.get_context("fork")
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    pipes, workers = [], []
    for i, n in enumerate(shares):
        ours, theirs = ctx.Pipe()
        p = ctx.Process(target=child, args=(i, spec, n, theirs), daemon=True)
        p.start()
        pipes.append(ours)
        workers.append(p)
    connected = 0
    for pipe in pipes:
        kind, value = pipe.recv()
        if kind != "ready":
            raise RuntimeError(f"a client process failed while connecting:\n{value}")
        connected += int(value)
    return pipes, workers, connected


def collect(pipes: list[Any], workers: list[Any]) -> Record:
    record = Record()
    for pipe in pipes:
        if not pipe.poll(180):
            raise RuntimeError("a client process did not report within 180 s")
        kind, value = pipe.recv()
        if kind != "done":
            raise RuntimeError(f"a client process failed:\n{value}")
        record.merge(value)
    for p in workers:
        p.join(30)
    return record


def wait_for_storm(monitor: Any, database: str, since_id: int, clients: int, limit: float = 180.0) -> float:
    """Seconds until every client holds its first row: all N claim at once when a run starts
    (as an array job's tasks do when SLURM starts them together)."""
    started = time.perf_counter()
    cur = monitor.cursor()
    while time.perf_counter() - started < limit:
        cur.execute(f"SELECT COUNT(DISTINCT worker) FROM `{database}`.`{TABLE}__attempts` WHERE ID > %s", (since_id,))
        if int(cur.fetchone()[0]) >= clients:
            break
        time.sleep(0.2)
    return time.perf_counter() - started


def last_attempt_id(monitor: Any, database: str) -> int:
    cur = monitor.cursor()
    cur.execute(f"SELECT COALESCE(MAX(ID), 0) FROM `{database}`.`{TABLE}__attempts`")
    return int(cur.fetchone()[0])


def run_one(base: Spec, monitor: Any, pid: int | None, clients: int, length: float, heartbeat: float,
            release: bool, settle: float, seconds: float, procs: int) -> dict[str, Any]:
    spec = replace(base, length=length, heartbeat=heartbeat, release=release,
                   ramp=clients / 200 if base.ramp < 0 else base.ramp)
    rss_before = proc_rss_mib(pid)
    connect_started = time.perf_counter()
    pipes, workers, connected = start_clients(spec, clients, procs)
    try:
        return measure(base, spec, monitor, pid, pipes, workers, connected, settle, seconds,
                       time.perf_counter() - connect_started, rss_before)
    finally:
        for p in workers:  # ours: a run that failed must not leave its connections behind
            if p.is_alive():
                p.terminate()
            p.join(10)


def measure(base: Spec, spec: Spec, monitor: Any, pid: int | None, pipes: list[Any], workers: list[Any],
            connected: int, settle: float, seconds: float, connect_wall: float, rss_before: float | None
            ) -> dict[str, Any]:
    clients = connected
    b0 = Snapshot(monitor, pid)
    time.sleep(BASELINE_SECONDS)
    idle = Snapshot.delta(b0, Snapshot(monitor, pid))
    since = last_attempt_id(monitor, base.database)
    start_at = time.time() + 0.2
    for pipe in pipes:
        pipe.send(start_at)
    storm = wait_for_storm(monitor, base.database, since, connected)
    measure_from = time.time() + settle
    stop_at = measure_from + seconds
    for pipe in pipes:
        pipe.send((measure_from, stop_at))
    time.sleep(max(0.0, measure_from - time.time()))
    gauge_conn = MySQLTarget(base_url(base)).connect(None, autocommit=True)  # a connection is one thread's
    s0, sampler = Snapshot(monitor, pid), GaugeSampler(gauge_conn)
    sampler.start()
    time.sleep(max(0.0, stop_at - 1.0 - time.time()))
    threads = connection_threads(monitor)  # before the window ends: then the clients disconnect
    time.sleep(max(0.0, stop_at - time.time()))
    s1 = Snapshot(monitor, pid)
    split = Snapshot.split(s0, s1, threads, base.database)
    gauges = sampler.stop()
    gauge_conn.close()
    record = collect(pipes, workers)
    server = Snapshot.delta(s0, s1)
    run = summarize(clients, connected, spec, record, server, idle, gauges, seconds, connect_wall, rss_before)
    run["storm_s"] = storm
    if split is not None:
        ops = run["claims"] + run["beats"] + run["finishes"] + run["sweeps"]
        run.update({f"mysqld_{k}_cores": v / server["seconds"] for k, v in split.items()})
        run["mysqld_ours_cpu_s"], run["mysqld_background_cpu_s"] = split["ours"], split["background"]
        run["ours_cpu_ms_per_op"] = split["ours"] * 1000 / ops if ops else None
    return run


def summarize(clients: int, connected: int, spec: Spec, r: Record, server: dict[str, Any], idle: dict[str, Any],
              gauges: dict[str, float], seconds: float, connect_wall: float, rss_before: float | None) -> dict[str, Any]:
    window = server["seconds"]
    cpu = server["mysqld_cpu_seconds"]
    idle_cores = idle["mysqld_cpu_seconds"] / idle["seconds"] if idle["mysqld_cpu_seconds"] is not None else None
    net_cpu = cpu - idle_cores * window if cpu is not None and idle_cores is not None else None
    ops = len(r.claim) + len(r.beat) + len(r.finish) + len(r.sweep)
    rss_connected = idle["mysqld_rss_mib"]
    per_conn = ((rss_connected - rss_before) * 1024 / connected
                if rss_connected is not None and rss_before is not None and connected and not spec.release else None)
    return {
        "clients": clients, "connected": connected, "length_s": spec.length, "heartbeat_s": spec.heartbeat,
        "release": spec.release, "window_s": window, "connect_wall_s": connect_wall,
        "claims": len(r.claim), "beats": len(r.beat), "finishes": len(r.finish), "empty_claims": r.empty,
        "claims_per_s": len(r.claim) / seconds, "beats_per_s": len(r.beat) / seconds,
        "finishes_per_s": len(r.finish) / seconds,
        "claim_p50_ms": ms(r.claim, 0.5), "claim_p99_ms": ms(r.claim, 0.99), "claim_max_ms": ms(r.claim, 1.0),
        "first_claim_p50_ms": ms(r.first_claim, 0.5), "first_claim_p99_ms": ms(r.first_claim, 0.99),
        "first_claim_max_ms": ms(r.first_claim, 1.0),
        "finish_p50_ms": ms(r.finish, 0.5), "finish_p99_ms": ms(r.finish, 0.99),
        "sweeps": len(r.sweep), "sweeps_per_s": len(r.sweep) / seconds, "requeued": r.requeued,
        "sweep_p50_ms": ms(r.sweep, 0.5), "sweep_p99_ms": ms(r.sweep, 0.99),
        "beat_p50_ms": ms(r.beat, 0.5), "beat_p99_ms": ms(r.beat, 0.99),
        "lag_p50_ms": ms(r.lag, 0.5), "lag_p99_ms": ms(r.lag, 0.99), "lag_max_ms": ms(r.lag, 1.0),
        "missed_beats": r.missed, "errors": dict(r.errors),
        "connect_p50_ms": ms(r.connect_seconds, 0.5), "connect_p99_ms": ms(r.connect_seconds, 0.99),
        "questions_per_s": server["Questions"] / window, "com_update_per_s": server["Com_update"] / window,
        "com_select_per_s": server["Com_select"] / window, "com_insert_per_s": server["Com_insert"] / window,
        "commits_per_s": server["Com_commit"] / window, "connections_per_s": server["Connections"] / window,
        "row_lock_waits": server["Innodb_row_lock_waits"], "row_lock_time_ms": server["Innodb_row_lock_time"],
        "connections": server["Connections"], **gauges,
        "mysqld_cores": cpu / window if cpu is not None else None, "mysqld_idle_cores": idle_cores,
        "mysqld_net_cpu_s": net_cpu, "mysqld_cpu_ms_per_op": net_cpu * 1000 / ops if net_cpu is not None and ops else None,
        "client_cores": r.cpu_seconds / window,
        "other_cores": (server["machine_busy_seconds"] - (cpu or 0.0) - r.cpu_seconds) / window,
        "mysqld_rss_mib": rss_connected, "mysqld_kib_per_connection": per_conn,
    }


def fit_costs(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """mysqld CPU per operation. From the held-connection runs, by least squares: CPU of our
    connections' threads plus the background threads = a * claims (each with its finish and
    sweep) + b * beats. Then a new connection's cost from the connection-per-operation runs: their
    mysqld CPU net of the idle baseline, less a and b times their operations, per connect.
    None without /proc access to the server or with too few held runs."""
    held = [r for r in runs if not r["release"] and r.get("mysqld_ours_cpu_s") is not None]
    if len(held) < 2:
        return None
    import numpy as np

    # A sweep runs before a claim whenever the experiment outlasts the sweep interval, so sweeps
    # track claims and cannot be told apart by least squares: a claim's cost includes its sweep
    # (reading N running rows), and is per N; sweep latency and lock waits show its growth.
    x = np.array([[r["claims"], r["beats"]] for r in held], dtype=float)
    y = np.array([r["mysqld_ours_cpu_s"] + r["mysqld_background_cpu_s"] for r in held], dtype=float)
    a, b = (float(v) for v in np.linalg.lstsq(x, y, rcond=None)[0])
    c = 0.0
    out = {"cycle_ms": a * 1000, "beat_ms": b * 1000}
    per_op = [r for r in runs if r["release"] and r["mysqld_net_cpu_s"] is not None and r["connections"]]
    if per_op:
        spent = sum(r["mysqld_net_cpu_s"] - a * r["claims"] - b * r["beats"] - c * r["sweeps"] * r["connected"]
                    for r in per_op)
        out["connect_ms"] = spent * 1000 / sum(r["connections"] for r in per_op)
    return out


def extrapolate(costs: dict[str, float], heartbeat: float = 30.0, stale_after: float = 120.0) -> list[dict[str, Any]]:
    """mysqld cores for TARGET_WORKERS workers: per-operation costs x the rates at that size.
    Every worker sweeps before a claim at most every min(stale_after / 2, 30) s, and a sweep
    reads every running row (N of them)."""
    out = []
    n = TARGET_WORKERS
    every = max(1.0, min(stale_after / 2, 30.0))
    for length in (60.0, 600.0, 3600.0):
        claims, beats = n / length, n / heartbeat
        sweeps = n / max(length, every)
        parts = {"claims": claims * costs["cycle_ms"] / 1000, "beats": beats * costs["beat_ms"] / 1000,
                 "sweeps": sweeps * n * costs.get("sweep_ms_per_running_row", 0.0) / 1000}
        held = sum(parts.values())
        release = held + (claims + beats) * costs["connect_ms"] / 1000 if "connect_ms" in costs else None
        out.append({"workers": n, "length_s": length, "heartbeat_s": heartbeat, "claims_per_s": claims,
                    "beats_per_s": beats, "sweeps_per_s": sweeps, **{f"cores_{k}": v for k, v in parts.items()},
                    "cores_held": held, "cores_release": release})
    return out


def f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [f"MariaDB {result['server']}, {result['rows']:,} rows, {result['cpus']} CPUs; "
             f"fill {result['fill_seconds']:.1f} s; {result['procs']} client processes", ""]
    lines += ["| clients | exp s | beat s | conn | claims/s | beats/s | claim p50 / p99 ms | first claim p99 ms "
              "| storm s | finish p50 / p99 ms | sweeps/s, p50 / p99 ms | beat lag p50 / p99 / max ms | missed | errors |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(
            f"| {r['connected']:,} | {f(r['length_s'], 0)} | {f(r['heartbeat_s'], 0)} | {'per op' if r['release'] else 'held'} "
            f"| {f(r['claims_per_s'])} | {f(r['beats_per_s'])} | {f(r['claim_p50_ms'])} / {f(r['claim_p99_ms'])} "
            f"| {f(r['first_claim_p99_ms'], 0)} | {f(r.get('storm_s'))} | {f(r['finish_p50_ms'])} / {f(r['finish_p99_ms'])} "
            f"| {f(r['sweeps_per_s'])}, {f(r['sweep_p50_ms'])} / {f(r['sweep_p99_ms'])} "
            f"| {f(r['lag_p50_ms'])} / {f(r['lag_p99_ms'])} / {f(r['lag_max_ms'], 0)} | {r['missed_beats']} "
            f"| {sum(r['errors'].values())} |")
    lines += ["", "| clients | exp s | conn | Threads_connected max | Threads_running mean / max | Questions/s "
              "| Com_update/s | connects/s | row lock waits | mysqld cores (idle) | ours + background cores "
              "| ours ms/op | clients' cores | others' cores | KiB/conn |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(
            f"| {r['connected']:,} | {f(r['length_s'], 0)} | {'per op' if r['release'] else 'held'} "
            f"| {f(r.get('Threads_connected_max'), 0)} | {f(r.get('Threads_running_mean'))} / "
            f"{f(r.get('Threads_running_max'), 0)} | {f(r['questions_per_s'], 0)} | {f(r['com_update_per_s'], 0)} "
            f"| {f(r['connections_per_s'], 0)} | {f(r['row_lock_waits'], 0)} | {f(r['mysqld_cores'], 2)} "
            f"({f(r['mysqld_idle_cores'], 2)}) | {f(r.get('mysqld_ours_cores'), 2)} + "
            f"{f(r.get('mysqld_background_cores'), 2)} | {f(r.get('ours_cpu_ms_per_op'), 3)} | {f(r['client_cores'], 2)} "
            f"| {f(r['other_cores'], 2)} | {f(r['mysqld_kib_per_connection'], 0)} |")
    for label, sizes in (("after the fill", result["sizes_filled"]), ("after the runs", result["sizes_after"])):
        lines += ["", f"Sizes {label} (MiB):", "", "| table | rows | data | indexes |", "|---|---|---|---|"]
        for s in sizes:
            per = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sorted(s["indexes"].items()))
            lines.append(f"| {s['table']} | {s['rows']:,} | {s['data_bytes'] / 2**20:.1f} | {per} |")
    costs = result.get("costs")
    if costs:
        lines += ["", "mysqld CPU per operation (least squares over the runs): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in costs.items()), "",
                  "| workers | exp s | beat s | claims/s | beats/s | sweeps/s | cores: claims + beats + sweeps "
                  "| mysqld cores, held | per op |", "|---|---|---|---|---|---|---|---|---|"]
        for e in result["extrapolation"]:
            lines.append(f"| {e['workers']:,} | {f(e['length_s'], 0)} | {f(e['heartbeat_s'], 0)} | "
                         f"{f(e['claims_per_s'])} | {f(e['beats_per_s'])} | {f(e['sweeps_per_s'])} | "
                         f"{f(e['cores_claims'], 2)} + {f(e['cores_beats'], 2)} + {f(e['cores_sweeps'], 2)} | "
                         f"{f(e['cores_held'], 2)} | {f(e['cores_release'], 2)} |")
    return "\n".join(lines)


def plan_from(args: argparse.Namespace) -> dict[str, Any]:
    plan = dict(PLANS["quick" if args.quick else "full"])
    if args.clients or args.lengths or args.heartbeat:
        clients = [int(c) for c in (args.clients or "500").split(",")]
        lengths = [float(x) for x in (args.lengths or "10").split(",")]
        hb = args.heartbeat or 2.0
        plan["runs"] = [(c, length, hb, False) for c in clients for length in lengths]
        if args.release:
            plan["runs"] += [(c, length, hb, True) for c in clients for length in lengths]
    for key in ("rows", "seconds", "settle"):
        if getattr(args, key) is not None:
            plan[key] = getattr(args, key)
    return plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--quick", action="store_true", help="small runs, under 2 minutes")
    ap.add_argument("--clients", help="comma-separated client counts (replaces the plan's runs)")
    ap.add_argument("--lengths", help="comma-separated mean experiment seconds")
    ap.add_argument("--heartbeat", type=float, help="heartbeat interval, seconds")
    ap.add_argument("--release", action="store_true", help="also run with no connection held while experiments run")
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    ap.add_argument("--settle", type=float, help="seconds between the start-up storm's end and the measuring")
    ap.add_argument("--rows", type=int, help="rows in the table")
    ap.add_argument("--ramp", type=float, default=None,
                    help="workers start spread over this many seconds (default clients/200; 0: all at once)")
    ap.add_argument("--procs", type=int, default=2, help="client processes (threads are spread over them)")
    ap.add_argument("--mysql", default=DEFAULT_MYSQL)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    plan = plan_from(args)
    target = MySQLTarget(args.mysql)
    database = target.create()
    monitor = target.connect(None, autocommit=True)  # not in our database: its CPU is not ours
    cur = monitor.cursor()
    cur.execute("SELECT @@max_connections")
    max_connections = int(cur.fetchone()[0])
    needed = max(r[0] for r in plan["runs"]) + 200
    base = Spec(target.host, target.port, target.user, target.password, database, 1.0, 1.0,
                ramp=-1.0 if args.ramp is None else args.ramp)
    result: dict[str, Any] = {"server": target.version(), "rows": plan["rows"], "procs": args.procs,
                              "cpus": multiprocessing.cpu_count(), "max_connections_before": max_connections, "runs": []}
    interrupted = False
    try:
        if needed > max_connections:
            log(f"max_connections {max_connections} -> {needed} for this run (restored afterwards)")
            cur.execute(f"SET GLOBAL max_connections = {int(needed)}")
        log(f"filling {plan['rows']:,} rows into {database}")
        result["fill_seconds"] = fill(base, plan["rows"])
        result["sizes_filled"] = index_sizes(monitor, database, [TABLE])
        pid = mysqld_pid(monitor)
        for clients, length, hb, release in plan["runs"]:
            if interrupted:
                break
            log(f"{clients} clients, {length:g} s experiments, heartbeat {hb:g} s, "
                f"{'connection per operation' if release else 'held connections'}")
            try:
                run = run_one(base, monitor, pid, clients, length, hb, release, plan["settle"], plan["seconds"],
                              args.procs)
            except KeyboardInterrupt:  # keep what the finished runs measured
                log("interrupted: reporting the runs that finished")
                interrupted = True
                break
            log(f"  claims {run['claims_per_s']:.0f}/s p99 {run['claim_p99_ms']:.1f} ms; beats {run['beats_per_s']:.0f}/s "
                f"lag p99 {run['lag_p99_ms']:.1f} ms; mysqld {f(run['mysqld_cores'], 2)} cores")
            result["runs"].append(run)
        result["sizes_after"] = index_sizes(monitor, database, [TABLE, f"{TABLE}__attempts"])
        costs = fit_costs(result["runs"])
        if costs:
            result["costs"], result["extrapolation"] = costs, extrapolate(costs)
    finally:
        monitor.close()
        target.drop(database)  # a fresh connection each: the monitor's may be the one that failed
        if needed > max_connections:
            restore = target.connect(None, autocommit=True)
            try:
                restore.cursor().execute(f"SET GLOBAL max_connections = {int(max_connections)}")
            finally:
                restore.close()
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
