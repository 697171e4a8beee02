"""Long runs (docs/long-runs.md): the stop grace period, the requeue cap and where each
row's checkpoint directory lives, validated once for every config format."""

from __future__ import annotations

from typing import Any

from .sections import Section

LONG_RUN_KEYS = frozenset({"stop_grace_seconds", "max_requeues", "checkpoint_dir", "keep_checkpoints"})
# SLURM may send `--signal` early but never late: the lead time is the grace period plus
# this much for handing the row back and exiting (60 s of grace: the 120 s it always was).
RELEASE_SECONDS = 60


def read_long_runs(exp: Section) -> dict[str, Any]:
    grace = exp.get("stop_grace_seconds", (int, float), 60.0)
    if grace < 0:
        raise exp.error("expected a number of seconds >= 0", grace, "stop_grace_seconds")
    requeues = exp.get("max_requeues", int, 10)
    if requeues < 0:
        raise exp.error("expected an integer >= 0", requeues, "max_requeues")
    folder = exp.get("checkpoint_dir", str, None)
    if folder is not None and not folder.strip():
        raise exp.error("expected a folder (relative to the config's folder)", folder, "checkpoint_dir")
    return {
        "stop_grace_seconds": float(grace),
        "max_requeues": int(requeues),
        "checkpoint_dir": folder,
        "keep_checkpoints": exp.get("keep_checkpoints", bool, False),
    }


def signal_lead(grace: float) -> int:
    """`slurm.signal_seconds` when the config does not set it: sized from the grace period."""
    return int(grace) + RELEASE_SECONDS
