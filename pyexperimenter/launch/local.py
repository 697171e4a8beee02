"""`pyexp launch --local`: the same N workers as processes of this machine.

Each is `python -m pyexperimenter.worker ...` with the arguments a SLURM task would get,
so a launch can be tried on a laptop (or an interactive node) exactly as it will run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..store import Store
from .result import LaunchResult


def run_local(result: LaunchResult, args: Sequence[str], env: Mapping[str, str], extra_path: Path | None,
              store: Store | None = None) -> LaunchResult:
    """Start `result.workers` worker processes, logs in the log folder; returns when all have exited.
    Their pids are recorded in the store's launches while they run, for `pyexp cancel`."""
    assert result.log_dir is not None
    result.log_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **env}
    if extra_path is not None:
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), child_env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "pyexperimenter.worker", *args]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.monotonic()
    procs = []
    for i in range(result.workers):
        with open(result.log_dir / f"local-{stamp}-{i}.log", "ab") as out:
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=child_env))
    records = store.record_launch("local", [str(p.pid) for p in procs], socket.gethostname()) if store else []
    try:
        result.exit_codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:  # they got the same SIGINT and are releasing their rows
            p.wait()
        raise
    finally:
        if store is not None and records:
            store.end_launches(records)
    result.seconds = time.monotonic() - started
    return result
