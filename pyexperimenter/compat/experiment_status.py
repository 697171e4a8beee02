"""PyExperimenter 1.4's status enum; an experiment function may return one of its members."""

from __future__ import annotations

from enum import Enum


class ExperimentStatus(Enum):
    CREATED = "created"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    ALL = "all"  # for reset_experiments: every status
    PAUSED = "paused"

__all__ = ["ExperimentStatus"]
