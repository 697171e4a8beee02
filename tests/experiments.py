"""Experiment functions used by the tests; importable from worker processes."""

from __future__ import annotations

import os
import time
from typing import Any


def record(path: str, row_id: int, tag: str = "") -> None:
    """Append one line per execution; O_APPEND makes concurrent appends whole lines."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{row_id} {tag}\n".encode())
    finally:
        os.close(fd)


def recording(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Records its execution in custom['record'], sleeps custom['sleep'], returns x * 2."""
    record(custom["record"], result_processor.experiment_id, str(os.getpid()))
    if custom.get("sleep"):
        time.sleep(float(custom["sleep"]))
    return {"value": parameters["x"] * 2.0, "label": f"{parameters['x']}-{parameters['y']}"}


def noop(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
    return None


def sleepy(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    record(custom["record"], result_processor.experiment_id, "start")
    time.sleep(float(custom.get("sleep", 30)))
    record(custom["record"], result_processor.experiment_id, "end")
    return {"value": 1.0}


# --- recovery and fault tests (tests/integration/test_recovery.py, test_faults.py)


def tracked(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Records "ID PID ATTEMPT start" before and "ID PID ATTEMPT end" after sleeping
    custom['sleep'] (custom['first_sleep'] on a first attempt, if given); returns x * 2."""
    tag = f"{os.getpid()} {result_processor.attempt}"
    record(custom["record"], result_processor.experiment_id, f"{tag} start")
    seconds = custom.get("sleep", 0)
    if result_processor.attempt == 1 and "first_sleep" in custom:
        seconds = custom["first_sleep"]
    if seconds:
        time.sleep(float(seconds))
    record(custom["record"], result_processor.experiment_id, f"{tag} end")
    return {"value": parameters["x"] * 2.0, "label": f"attempt {result_processor.attempt}"}


def zombie(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """First attempt: waits until the file custom['go'] exists (the test requeues and
    re-runs the row meanwhile), then tries to write logs and results, recording whether
    each write was refused, and returns results of its own. Later attempts return at once."""
    from pyexperimenter.errors import FencedOut

    rid, attempt = result_processor.experiment_id, result_processor.attempt
    record(custom["record"], rid, f"{os.getpid()} {attempt} start")
    if attempt > 1:
        return {"value": 2.0, "label": f"attempt {attempt}"}
    deadline = time.monotonic() + 60
    while not os.path.exists(custom["go"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for what, write in (
        ("logs", lambda: result_processor.process_logs({"steps": {"step": 1}})),
        ("results", lambda: result_processor.process_results({"label": "zombie"})),
    ):
        try:
            write()
            record(custom["record"], rid, f"{os.getpid()} {attempt} {what}-written")
        except FencedOut:
            record(custom["record"], rid, f"{os.getpid()} {attempt} {what}-refused")
    return {"value": -1.0, "label": "zombie"}


def always_fails(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> None:
    raise RuntimeError("boom")


def chatty(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Prints on stdout, stderr and file descriptor 1 (as C code would); x == 1 then
    prints 5000 bytes more and fails; x == 2 waits for the file custom['go'] before printing its last line."""
    import sys

    x = parameters["x"]
    print(f"out {x} ü")
    print(f"err {x}", file=sys.stderr)
    sys.stdout.flush()
    os.write(1, f"fd {x}\n".encode())
    if x == 1:
        print("-" * 5000)  # more than the stored tail: this attempt gets a file
        raise ValueError("chatty failed")
    if x == 2:
        while not os.path.exists(custom["go"]):
            time.sleep(0.05)
        print("finished")
    return {"value": float(x)}


def typed_results(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Results as numpy scalars and Decimals (tests/integration/test_fill_and_finish.py)."""
    from decimal import Decimal

    import numpy as np

    x = parameters["x"]
    result_processor.process_logs({"steps": {"step": np.int64(x), "loss": np.float32(x / 4)}})
    return {"f32": np.float32(x / 2), "i64": np.int64(3 * x), "flag": np.bool_(x == 1),
            "exact": Decimal("0.1234") * x, "fdec": Decimal("1.5") * x, "label": Decimal("1.25") * x}


def talking(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Prints a start line on stdout and an end line on stderr around custom['sleep'] seconds
    (tests/acceptance/test_slurm.py: the SLURM log while the worker runs)."""
    import sys

    x = parameters["x"]
    print(f"talking {x} start")
    time.sleep(float(custom.get("sleep", 0)))
    print(f"talking {x} end", file=sys.stderr)
    return {"value": float(x)}


def verbose(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Prints custom['kb'] KB between a first and a last line (tests/integration/test_full_disk.py)."""
    x = parameters["x"]
    print(f"first line of {x}")
    for _ in range(int(custom.get("kb", 100)) * 16):
        print("." * 63)
    print(f"last line of {x}")
    return {"value": float(x)}


def leaves_child(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Starts `sleep 600` and returns without waiting for it (x == 1: then sleeps
    custom['sleep'], for a timeout); records "ID PID SIGIGN" of that child, SIGIGN being the
    ignored-signals mask it inherited (tests/integration/test_isolation.py)."""
    import subprocess

    child = subprocess.Popen(["sleep", "600"])
    mask = "0"
    with open(f"/proc/{child.pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                mask = line.split()[1]
    record(custom["record"], result_processor.experiment_id, f"{child.pid} {mask}")
    if parameters["x"] == 1:
        time.sleep(float(custom.get("sleep", 0)))
    return {"value": float(parameters["x"])}


def leaves_thread(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """Starts a non-daemon thread that prints every 0.2 s for custom['seconds'] and returns."""
    import threading

    def chatter() -> None:
        end = time.monotonic() + float(custom.get("seconds", 600))
        while time.monotonic() < end:
            print(f"chatter of {parameters['x']}", flush=True)
            time.sleep(0.2)

    threading.Thread(target=chatter, name=f"chatter-{parameters['x']}").start()
    return {"value": float(parameters["x"])}
