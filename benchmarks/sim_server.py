"""The server side of the simulation: MariaDB's counters, mysqld's CPU and memory, index sizes.

Counters come from SHOW GLOBAL STATUS, which is server-wide: other clients of a shared
server are in them too. That is why simulate.py measures an idle baseline (every client
connected, none working) before each run and reports mysqld's CPU net of it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

COUNTERS = ("Questions", "Com_select", "Com_update", "Com_insert", "Com_commit", "Innodb_row_lock_waits",
            "Innodb_row_lock_time", "Connections", "Threads_created", "Aborted_connects",
            "Innodb_buffer_pool_read_requests", "Innodb_buffer_pool_reads")
GAUGES = ("Threads_connected", "Threads_running", "Innodb_history_list_length")
TICK = os.sysconf("SC_CLK_TCK")


def mysqld_pid(conn: Any) -> int | None:
    """The server's pid when it runs on this machine (its pid file is readable), else None."""
    cur = conn.cursor()
    cur.execute("SELECT @@pid_file")
    try:
        pid = int(Path(str(cur.fetchone()[0])).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def proc_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    return None if pid is None else proc_cpu_seconds_at(Path(f"/proc/{pid}/stat"))


def proc_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def thread_cpu_seconds(pid: int | None) -> dict[int, float]:
    """CPU seconds of each of a process's threads: mysqld runs one per connection."""
    out: dict[int, float] = {}
    if pid is None:
        return out
    for task in Path(f"/proc/{pid}/task").glob("*"):
        cpu = proc_cpu_seconds_at(task / "stat")
        if cpu is not None:
            out[int(task.name)] = cpu
    return out


def proc_cpu_seconds_at(stat: Path) -> float | None:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def connection_threads(conn: Any) -> dict[int, str | None]:
    """The OS thread of every connection, with its current database (MariaDB's TID column)."""
    cur = conn.cursor()
    cur.execute("SELECT TID, DB FROM information_schema.PROCESSLIST")
    return {int(tid): db for tid, db in cur.fetchall() if tid is not None}


def machine_busy_seconds() -> float:
    """CPU seconds spent busy on the whole machine, all cores (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def status(conn: Any) -> dict[str, float]:
    cur = conn.cursor()
    cur.execute("SHOW GLOBAL STATUS")
    wanted = set(COUNTERS) | set(GAUGES)
    found = {}
    for name, value in cur.fetchall():
        if name in wanted:
            try:
                found[name] = float(value)
            except ValueError:
                pass
    return found


class Snapshot:
    """Counters and CPU clocks at one instant; `Snapshot.delta` turns two into rates."""

    def __init__(self, conn: Any, pid: int | None):
        self.wall = time.time()
        self.status = status(conn)
        self.mysqld_cpu = proc_cpu_seconds(pid)
        self.machine_busy = machine_busy_seconds()
        self.rss = proc_rss_mib(pid)
        self.threads = thread_cpu_seconds(pid)

    @staticmethod
    def delta(a: Snapshot, b: Snapshot) -> dict[str, Any]:
        seconds = max(b.wall - a.wall, 1e-9)
        out: dict[str, Any] = {"seconds": seconds}
        for name in COUNTERS:
            out[name] = b.status.get(name, 0.0) - a.status.get(name, 0.0)
        out["mysqld_cpu_seconds"] = (b.mysqld_cpu - a.mysqld_cpu) if a.mysqld_cpu is not None and b.mysqld_cpu is not None else None
        out["machine_busy_seconds"] = b.machine_busy - a.machine_busy
        out["mysqld_rss_mib"] = b.rss
        return out

    @staticmethod
    def split(a: Snapshot, b: Snapshot, threads: dict[int, str | None], database: str) -> dict[str, float] | None:
        """mysqld's CPU between two snapshots split three ways by thread: our connections'
        (their database is ours), other connections' (other clients of a shared server), and
        background threads (no connection: InnoDB's log writer, purge, page cleaners). Exact
        while our connections are held; with connections per operation a cached thread
        serves both us and others, so the split is only indicative."""
        if not a.threads or not b.threads:
            return None
        out = {"ours": 0.0, "other_sessions": 0.0, "background": 0.0}
        for tid, cpu in b.threads.items():
            used = cpu - a.threads.get(tid, 0.0)
            if tid not in threads:
                out["background"] += used
            elif threads[tid] == database:
                out["ours"] += used
            else:
                out["other_sessions"] += used
        return out


class GaugeSampler(threading.Thread):
    """Samples Threads_connected/running and the purge backlog twice a second."""

    def __init__(self, conn: Any):
        super().__init__(daemon=True)
        self.conn = conn
        self.samples: dict[str, list[float]] = {g: [] for g in GAUGES}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            now = status(self.conn)
            for g in GAUGES:
                if g in now:
                    self.samples[g].append(now[g])

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        out: dict[str, float] = {}
        for g, values in self.samples.items():
            if values:
                out[f"{g}_max"] = max(values)
                out[f"{g}_mean"] = sum(values) / len(values)
        return out


def index_sizes(conn: Any, database: str, tables: list[str]) -> list[dict[str, Any]]:
    """Rows, data and per-index sizes (InnoDB's persistent statistics, after ANALYZE TABLE)."""
    cur = conn.cursor()
    out = []
    for table in tables:
        cur.execute(f"ANALYZE TABLE `{database}`.`{table}`")
        cur.fetchall()
        cur.execute("SELECT TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, table))
        rows, data, index = cur.fetchone()
        cur.execute("SELECT index_name, stat_value * @@innodb_page_size FROM mysql.innodb_index_stats "
                    "WHERE database_name = %s AND table_name = %s AND stat_name = 'size'", (database, table))
        per_index = {name: int(size) for name, size in cur.fetchall()}
        out.append({"table": table, "rows": int(rows), "data_bytes": int(data), "index_bytes": int(index),
                    "indexes": per_index})
    return out
