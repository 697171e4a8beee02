"""The researcher's flow as a researcher runs it: an ordinary user, never root.

`pyexp` runs from the user's own venv (scripts/ordinary_user.sh) in folders the user owns,
locally on SQLite and on the real one-node SLURM cluster with MariaDB. What root would hide
(files it may write anywhere, a home of /root) cannot help here. Fails under CI=true
without the user, SLURM or MariaDB.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.ordinary_user import OrdinaryUser
from support.services import require_slurm


def write_config(user: OrdinaryUser, folder: Path, url: str, rows: int) -> Path:
    data = {
        "experiment": {"name": "mine", "function": "experiments:recording", "heartbeat_seconds": 1,
                       "stale_after_seconds": 5},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": rows}, "y": ["a"]},
        "results": {"value": "DOUBLE", "label": "VARCHAR(64)"},
        "slurm": {"partition": "debug", "time_minutes": 10, "mem_gb": 0.25},
        "custom": {"record": str(folder / "executions.txt")},
    }
    path = folder / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return user.give(path)


def status_counts(user: OrdinaryUser, folder: Path, config: Path) -> dict[str, int]:
    out = user.run(["pyexp", "status", str(config), "--json"], cwd=folder)
    assert out.returncode == 0, out.stderr
    return {k: int(v) for k, v in json.loads(out.stdout)["counts"].items()}


def executions(folder: Path) -> list[int]:
    return sorted(int(line.split()[0]) for line in (folder / "executions.txt").read_text().splitlines())


def not_owned_by(user: OrdinaryUser, folder: Path) -> list[Path]:
    return [p for p in [folder, *folder.rglob("*")] if p.lstat().st_uid != user.uid]


def test_local_run_on_sqlite_as_an_ordinary_user(ordinary_user: OrdinaryUser) -> None:
    folder = ordinary_user.workdir("local")
    config = write_config(ordinary_user, folder, "sqlite:///experiments.db", rows=12)
    filled = ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder)
    assert filled.returncode == 0, filled.stderr
    ran = ordinary_user.run(["pyexp", "run", str(config), "--jobs", "2"], cwd=folder)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    counts = status_counts(ordinary_user, folder, config)
    assert counts.get("done") == 12 and sum(counts.values()) == 12, counts
    assert executions(folder) == list(range(1, 13))  # each row once
    assert not_owned_by(ordinary_user, folder) == []


@pytest.mark.slurm
@pytest.mark.mysql
def test_slurm_launch_as_an_ordinary_user(ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    require_slurm()
    folder = ordinary_user.workdir("slurm")
    config = write_config(ordinary_user, folder, mysql_url, rows=30)
    assert ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
    out = ordinary_user.run(["pyexp", "launch", str(config), "--workers", "3", "--wait"], cwd=folder, timeout=240)
    jobs = re.findall(r"(\d+) \(\d+ tasks\)", out.stdout)
    try:
        assert out.returncode == 0, out.stderr + out.stdout
        assert len(jobs) == 1, out.stdout
        counts = status_counts(ordinary_user, folder, config)
        assert counts.get("done") == 30 and sum(counts.values()) == 30, counts
        logs = sorted((folder / "pyexp_logs" / "mine").glob(f"{jobs[0]}_*.log"))
        assert len(logs) == 3, logs
        assert not_owned_by(ordinary_user, folder) == []
        assert executions(folder) == list(range(1, 31))  # each row once
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
