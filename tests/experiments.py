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
