"""The one interface between the launcher and a batch scheduler.

`launch`, `wait_for_jobs` and `cancel` decide everything (how many workers, in which arrays,
what to check, what to record) and ask a `Scheduler` only what differs between clusters: its
limits, where jobs may land, the job script's text, submitting it, whether jobs are still
queued, and stopping them. SLURM (`slurm.py`, through submitit) and Grid Engine (`sge.py`,
qsub arrays) implement it; `schedulers.py` picks one. Adding a third scheduler is a module
with one class that satisfies this protocol, a template, and a line in `schedulers.py`
(docs/cluster.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Protocol

from ..config import ExperimentConfig, SlurmConfig
from .plan import ArrayPlan, ClusterLimits
from .result import LaunchResult


@dataclass(frozen=True)
class JobInputs:
    """What every worker's job script holds, whatever the scheduler writes around it."""

    table: str
    python: str
    workdir: Path
    log_dir: Path
    worker_args: Sequence[str]
    environment: Sequence[str] = ()  # shell lines (PYTHONPATH for a module outside the usual places)
    passed: Sequence[str] = ()  # variables the jobs take from the submitting environment (the passwords)


@dataclass(frozen=True)
class Placement:
    """Where the jobs may run: the nodes (None if the scheduler cannot tell), how to name that
    place in a message, and how a user keeps every worker on one node."""

    nodes: set[str] | None
    where: str
    one_node_hint: str


class Scheduler(Protocol):
    name: str  # `--scheduler`, `scheduler:`, the kind of a launch record, the attempts' scheduler column
    label: str  # for people: "SLURM", "Grid Engine"
    submit_command: str  # the command that takes the job script ("sbatch", "qsub")

    def available(self) -> bool:
        """Whether this machine can submit (the submit command is on PATH)."""
        ...

    def limits(self) -> ClusterLimits:
        """The array limits, or the scheduler's defaults (with a `source` saying so)."""
        ...

    def placement(self, config: ExperimentConfig, slurm: SlurmConfig) -> Placement: ...

    def notes(self, config: ExperimentConfig, slurm: SlurmConfig) -> list[str]:
        """What the plan should warn about that only this scheduler knows."""
        ...

    def render(self, config: ExperimentConfig, slurm: SlurmConfig, inputs: JobInputs,
               arrays: Sequence[ArrayPlan]) -> tuple[Traversable, list[str]]:
        """The template used and one job script per array, byte for byte what is submitted."""
        ...

    def array_text(self, array: ArrayPlan) -> str:
        """How the array's size and parallelism read in this scheduler's options."""
        ...

    def submit(self, result: LaunchResult, env: Mapping[str, str]) -> None:
        """Submit `result.scripts`, appending each array job's id to `result.job_ids`; a refusal
        of the first is an InputError, of a later one an entry in `result.errors`."""
        ...

    def alive(self, job_ids: Sequence[str]) -> bool:
        """True while any task of these jobs is pending or running (True when it cannot tell)."""
        ...

    def queued(self, job_ids: Sequence[str]) -> list[str]:
        """The tasks of these jobs still pending or running (the jobs themselves when it cannot tell)."""
        ...

    def cancel(self, job_ids: Sequence[str], grace_seconds: float) -> list[str]:
        """Stop these jobs so that the workers release their rows; returns what is still queued."""
        ...

    def hints(self, job_ids: Sequence[str]) -> tuple[str, str]:
        """The scheduler's own commands to watch and to cancel these jobs, for the printed plan."""
        ...
