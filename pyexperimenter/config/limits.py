"""`experiment.isolation`, its limits and the quarantine threshold, validated for both the
native format and anything else that builds an ExperimentConfig."""

from __future__ import annotations

from typing import Any

from .sections import Section

ISOLATIONS = ("none", "process", "spawn")


def read_isolation(exp: Section) -> dict[str, Any]:
    """A time or memory limit can only be enforced on a child process: killing running
    Python code from inside its own process is not safe, so without isolation they are
    refused here rather than silently ignored."""
    isolation = exp.get("isolation", str, "none")
    if isolation not in ISOLATIONS:
        raise exp.error(f"expected one of {', '.join(ISOLATIONS)}", isolation, "isolation")
    timeout = exp.positive("timeout_seconds", float, None)
    memory = exp.positive("memory_limit_mb", int, None)
    for key, value in (("timeout_seconds", timeout), ("memory_limit_mb", memory)):
        if value is not None and isolation == "none":
            raise exp.error("needs experiment.isolation: process (a limit is enforced on a child process)", value, key)
    return {"isolation": isolation, "timeout_seconds": timeout, "memory_limit_mb": memory}


def non_negative(exp: Section, key: str, default: int) -> int:
    value = exp.get(key, int, default)
    if value < 0:
        raise exp.error("expected an integer >= 0", value, key)
    return int(value)
