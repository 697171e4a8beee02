"""Experiment functions for the cluster tests (partitions, isolation, quarantine); a worker
process imports them by name, with this folder on PYTHONPATH."""

from __future__ import annotations

import ctypes
import os
import socket
import time
from typing import Any


def _record(path: str, line: str) -> None:
    """One whole line per call, even with many writers (O_APPEND)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def slow(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Records "ID HOST PID ATTEMPT start|end TIME" around a sleep of custom['sleep'] seconds."""
    tag = f"{result_processor.experiment_id} {socket.gethostname()} {os.getpid()} {result_processor.attempt}"
    _record(custom["record"], f"{tag} start {time.time():.3f}")
    time.sleep(float(custom.get("sleep", 1)))
    _record(custom["record"], f"{tag} end {time.time():.3f}")
    return {"value": parameters["x"] * 2.0}


def broken_on(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Raises at once on the host named custom['broken'] (a missing driver, a full disk);
    elsewhere works for custom['sleep'] seconds."""
    if socket.gethostname() == custom["broken"] or os.environ.get("PYEXP_TEST_BROKEN") == "1":
        raise RuntimeError("libcuda.so.1: cannot open shared object file")
    time.sleep(float(custom.get("sleep", 0.01)))
    return {"value": parameters["x"] * 2.0}


def misbehave(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """What parameter `x` says: 0 works, 1 segfaults, 2 os._exit(3), 3 allocates 2 GB,
    4 sleeps for ever, 5 raises, 6 prints and works."""
    how = int(parameters["x"])
    if how == 1:
        ctypes.string_at(0)  # SIGSEGV
    elif how == 2:
        os._exit(3)
    elif how == 3:
        block = bytearray(2 * 1024**3)
        block[::4096] = b"x" * len(block[::4096])
    elif how == 4:
        while True:
            time.sleep(1)
    elif how == 5:
        raise ValueError("bad value")
    elif how == 6:
        print("hello from the experiment", flush=True)
    return {"value": parameters["x"] * 2.0}
