"""`pyexp cancel`: stop what `pyexp launch` started for a table, rows released, not lost.

Launches are recorded in `<table>_launches` (array job ids of a scheduler, kind `slurm` or
`sge`, or the pids and host of `--local` workers), so cancel works from any login node that
reaches the database. Workers release their row on a stop signal without spending an attempt
(worker/signals.py): scheduled jobs get USR2 first (the scheduler's `cancel`), local workers
SIGTERM. A local worker on another host cannot be signalled from here; it is reported and
its record kept.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..store import Store
from . import schedulers

WORKER_MARK = b"pyexperimenter.worker"  # in the command line of every worker `launch --local` starts


@dataclass
class CancelResult:
    table: str
    slurm_jobs: list[str] = field(default_factory=list)  # array jobs that were still queued or running
    sge_jobs: list[str] = field(default_factory=list)  # the same on Grid Engine
    local_pids: list[int] = field(default_factory=list)  # local workers signalled
    left: list[str] = field(default_factory=list)  # still queued or running afterwards
    elsewhere: list[str] = field(default_factory=list)  # local workers of other hosts (pid@host)


def cancel(table: str, store: Store, grace_seconds: float = 30.0) -> CancelResult:
    """Stop every recorded launch of the table that is still alive."""
    result = CancelResult(table)
    host = socket.gethostname()
    records = store.launches()
    scheduled = [r for r in records if r["kind"] in schedulers.kinds()]
    local = [r for r in records if r["kind"] == "local"]
    ended = [int(r["ID"]) for r in scheduled]
    store.end_launches(ended)  # first: a worker signalled below sees it and records `cancelled by pyexp cancel`
    try:
        _stop_all(result, scheduled, local, host, ended, grace_seconds)
    except BaseException:  # Ctrl-C in the grace wait: the jobs may run on, so a second cancel must see them
        store.reopen_launches([int(r["ID"]) for r in scheduled])
        raise
    store.end_launches(ended)
    return result


def _stop_all(result: CancelResult, scheduled: list[dict], local: list[dict], host: str, ended: list[int],
              grace_seconds: float) -> None:
    """Signal every launch and wait out the grace; `ended` gains the local records stopped."""
    for kind, alive in (("slurm", result.slurm_jobs), ("sge", result.sge_jobs)):
        jobs = [str(r["job_id"]) for r in scheduled if r["kind"] == kind]
        if not jobs:
            continue
        cluster = schedulers.get(kind)
        # one by one: squeue refuses a whole list for one id the controller has forgotten
        alive += [j for j in jobs if any(re.split(r"[_.]", t)[0] == j for t in cluster.queued([j]))]
        result.left += cluster.cancel(alive, grace_seconds) if alive else []
    pids = []
    for r in local:
        if r["host"] != host:
            result.elsewhere.append(f"{r['job_id']}@{r['host']}")
            continue
        ended.append(int(r["ID"]))
        pid = int(r["job_id"])
        if _is_worker(pid):
            pids.append(pid)
    result.local_pids = _stop_local(pids, grace_seconds)
    result.left += [str(p) for p in result.local_pids if _is_worker(p)]


def _is_worker(pid: int) -> bool:
    """Whether `pid` is alive and still one of our workers (not a reused pid)."""
    try:
        return WORKER_MARK in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop_local(pids: list[int], grace_seconds: float) -> list[int]:
    """SIGTERM to each worker; waits until they exited (or the grace is over)."""
    signalled = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append(pid)
        except OSError:
            continue
    end = time.monotonic() + grace_seconds
    while any(_is_worker(p) for p in signalled) and time.monotonic() < end:
        time.sleep(0.2)
    return signalled
