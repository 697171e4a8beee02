"""Long runs on the real one-node SLURM cluster (docs/long-runs.md), as an ordinary user with
a real MariaDB: an experiment of about 90 s, saving its state every few seconds, is carried to
the end across stops, and its result equals an uninterrupted run's.

- a one-minute time limit: SLURM's USR2 stops each attempt, which saves and asks to be
  requeued; the worker requeues its own array task; all from one `pyexp launch --wait`;
- `scancel --batch --signal=USR2` standing in for a preemption, the same way;
- `pyexp cancel`, then a new launch that resumes.

No attempt is spent by any of it. SLURM holds a requeued task back for about two minutes
before it starts again, so these tests take minutes. Fails under CI=true without SLURM,
MariaDB or the ordinary user.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from long_run_fns import expected_total
from support.ordinary_user import OrdinaryUser
from support.services import require_slurm
from support.workers import wait_for

from pyexperimenter import Experimenter

pytestmark = [pytest.mark.slurm, pytest.mark.mysql, pytest.mark.timeout(1500)]

STEPS = 90  # seconds of work in one-second steps
X = 7


def write_config(user: OrdinaryUser, folder: Path, url: str, name: str, minutes: int) -> Path:
    data = {
        "experiment": {"name": name, "function": "long_run_fns:count_slowly", "heartbeat_seconds": 2,
                       "stale_after_seconds": 30},
        "database": {"url": url},
        "parameters": {"x": [X]},
        "results": {"total": "BIGINT", "steps": "INT"},
        "slurm": {"partition": "debug", "time_minutes": minutes, "mem_gb": 0.25},
        "custom": {"steps": STEPS, "every": 3, "record": str(folder / "attempts.txt")},
    }
    path = folder / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return user.give(path)


def records(folder: Path) -> list[dict[str, Any]]:
    """One line per attempt the experiment started: the step it resumed from, its job."""
    lines = (folder / "attempts.txt").read_text().splitlines()
    keys = ("id", "attempt", "step", "job", "restarts")
    return [dict(zip(keys, (int(v) if v.isdigit() else v for v in line.split()))) for line in lines]


def launch(user: OrdinaryUser, folder: Path, config: Path, *extra: str) -> subprocess.Popen[str]:
    env = user.env()
    return subprocess.Popen(
        ["runuser", "-u", user.name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
         "pyexp", "launch", str(config), "--workers", "1", *extra],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def saved_step(exp: Experimenter) -> int:
    (row,) = exp.store.rows()
    return int(json.loads(row["pyexp_state"])["step"]) if row["pyexp_state"] else 0


def assert_finished_as_uninterrupted(exp: Experimenter, config: Path) -> list[dict[str, Any]]:
    (row,) = exp.store.rows()
    assert (row["status"], row["total"], row["steps"]) == ("done", expected_total(STEPS, X), STEPS), row
    assert row["pyexp_attempts"] == 1, "the stops spent no attempt"
    attempts = sorted(exp.store.rows(exp.store.schema.attempts_table), key=lambda a: a["ID"])
    outcomes = [a["outcome"] for a in attempts]
    assert outcomes[-1] == "done" and set(outcomes[:-1]) == {"requeued"} and len(outcomes) >= 2, outcomes
    assert {a["attempt"] for a in attempts} == {1}
    assert not (exp.config.checkpoint_root() / str(row["ID"])).exists(), "a done row's directory is removed"
    return attempts


def resumed(folder: Path) -> list[dict[str, Any]]:
    runs = records(folder)
    assert runs[0]["step"] == 0 and all(r["step"] > 0 for r in runs[1:]), runs
    assert [r["step"] for r in runs] == sorted(r["step"] for r in runs), runs  # each went on from the last
    return runs


@pytest.fixture
def slurm_user(ordinary_user: OrdinaryUser) -> OrdinaryUser:
    require_slurm()
    return ordinary_user


@pytest.fixture
def table() -> Iterator[str]:
    """A table name of this test's own; whatever jobs it leaves behind are cancelled by name."""
    name = f"lr_{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["scancel", f"--name=pyexp-{name}"], capture_output=True, timeout=30)


def test_a_time_limit_is_carried_by_requeued_tasks(slurm_user: OrdinaryUser, mysql_url: str, table: str) -> None:
    folder = slurm_user.workdir("longrun")
    config = write_config(slurm_user, folder, mysql_url, table, minutes=1)
    assert slurm_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
    dry = slurm_user.run(["pyexp", "launch", str(config), "--workers", "1", "--dry-run"], cwd=folder)
    assert "#SBATCH --signal=B:USR2@20" in dry.stdout, dry.stdout  # a third of the one-minute limit
    assert "export PYEXP_STOP_GRACE=10" in dry.stdout and "#SBATCH --requeue" in dry.stdout
    out = slurm_user.run(["pyexp", "launch", str(config), "--workers", "1", "--wait"], cwd=folder, timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = re.findall(r"(\d+) \(\d+ tasks\)", out.stdout)
    with Experimenter(config) as exp:
        attempts = assert_finished_as_uninterrupted(exp, config)
    runs = resumed(folder)
    assert len(runs) >= 2  # 90 s of work in a one-minute allocation: stopped at least once
    assert len(jobs) == 1 and len({r["job"] for r in runs}) == 1, runs  # one task throughout
    assert [r["restarts"] for r in runs] == list(range(len(runs))), runs  # the same task, requeued
    assert all("stop requested at step" in a["error"] for a in attempts[:-1])
    log = (folder / "pyexp_logs" / table).glob(f"{jobs[0]}_*.log")
    assert "requeued task" in "".join(p.read_text() for p in log)


def test_a_preemption_signal_is_carried_by_the_requeued_task(slurm_user: OrdinaryUser, mysql_url: str,
                                                            table: str) -> None:
    folder = slurm_user.workdir("preempt")
    config = write_config(slurm_user, folder, mysql_url, table, minutes=10)
    assert slurm_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
    waiting = launch(slurm_user, folder, config, "--wait")
    try:
        with Experimenter(config) as exp:
            wait_for("the first state saved", lambda: saved_step(exp) >= 6, 120, every=0.5)
            job = next(r["job"] for r in records(folder))
            signalled = slurm_user.run(["scancel", "--batch", "--signal=USR2", job], cwd=folder)
            assert signalled.returncode == 0, signalled.stderr
            out, err = waiting.communicate(timeout=900)
            assert waiting.returncode == 0, out + err
            assert_finished_as_uninterrupted(exp, config)
        runs = resumed(folder)
        assert len(runs) == 2 and runs[1]["restarts"] == 1, runs  # the one task, requeued once
    finally:
        if waiting.poll() is None:
            waiting.kill()


def test_pyexp_cancel_then_a_new_launch_resumes(slurm_user: OrdinaryUser, mysql_url: str, table: str) -> None:
    folder = slurm_user.workdir("cancel")
    config = write_config(slurm_user, folder, mysql_url, table, minutes=10)
    assert slurm_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
    first = slurm_user.run(["pyexp", "launch", str(config), "--workers", "1"], cwd=folder)
    assert first.returncode == 0, first.stdout + first.stderr
    with Experimenter(config) as exp:
        wait_for("the first state saved", lambda: saved_step(exp) >= 6, 120, every=0.5)
        cancelled = slurm_user.run(["pyexp", "cancel", str(config)], cwd=folder, timeout=120)
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        (row,) = exp.store.rows()
        assert (row["status"], row["pyexp_attempts"]) == ("created", 0)
        assert (exp.config.checkpoint_root() / str(row["ID"]) / "progress.json").exists()
        second = slurm_user.run(["pyexp", "launch", str(config), "--workers", "1", "--wait"], cwd=folder,
                                timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert_finished_as_uninterrupted(exp, config)
    runs = resumed(folder)
    assert len(runs) == 2 and runs[0]["job"] != runs[1]["job"], runs  # the new launch's job resumed
    assert {r["restarts"] for r in runs} == {0}, "a cancelled worker does not requeue its task"
