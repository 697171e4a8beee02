"""What a launch did (or would do), as plain data: `render.launch_text` prints it and
`wait_for_jobs` follows it, so neither printing nor polling lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from ..config import SlurmConfig
from .plan import ArrayPlan, ClusterLimits


@dataclass
class LaunchResult:
    table: str
    database: str
    config_path: Path | None
    mode: str  # "slurm", "sge" (submitted there), "dry-run", "local" or "nothing"
    open_rows: int = 0
    requested: int = 0
    workers: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    arrays: list[ArrayPlan] = field(default_factory=list)
    limits: ClusterLimits | None = None
    slurm: SlurmConfig | None = None
    log_dir: Path | None = None
    template: Traversable | None = None  # a Path, unless the package is imported from a zip
    scripts: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scheduler: str = "slurm"  # the one submitted to (or planned for): schedulers.get(name)

    @property
    def failed(self) -> bool:
        """Whether `pyexp launch` should exit 1: an array was refused or a local worker failed."""
        return bool(self.errors) or any(code != 0 for code in self.exit_codes)
