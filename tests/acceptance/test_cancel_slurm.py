"""`pyexp cancel` on the real one-node SLURM cluster and a real MariaDB.

Workers launched on long experiments are cancelled: nothing of those jobs is left in
squeue, no row is running, none is lost (all back to `created`) and no attempt is spent.
Needs `scripts/services.sh`; fails under CI=true without SLURM.
"""

from __future__ import annotations

import _thread
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import service_missing
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.launch.cancel import cancel

pytestmark = [pytest.mark.slurm, pytest.mark.mysql]

TESTS = Path(__file__).resolve().parent.parent
PYEXP = Path(sys.executable).parent / "pyexp"


@pytest.fixture
def slurm_jobs() -> Iterator[list[str]]:
    for tool in ("sinfo", "sbatch", "squeue", "scancel"):
        if shutil.which(tool) is None:
            service_missing("SLURM", f"{tool} not found on PATH")
    ids: list[str] = []
    yield ids
    if ids:  # whatever a failed test left behind
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def squeue(ids: list[str]) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True, timeout=30)
    return out.stdout.split() if out.returncode == 0 else []


def pyexp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run([str(PYEXP), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_cancel_releases_every_row(mysql_url: str, tmp_path: Path, slurm_jobs: list[str]) -> None:
    data = {
        "experiment": {"name": "cancelled", "function": "experiments:sleepy", "heartbeat_seconds": 1,
                       "stale_after_seconds": 5},
        "database": {"url": mysql_url},
        "parameters": {"x": {"start": 0, "stop": 8}, "y": ["a"]},
        "results": {"value": "DOUBLE"},
        "slurm": {"partition": "debug", "time_minutes": 10, "mem_gb": 0.25, "array_parallelism": 3},
        "custom": {"record": str(tmp_path / "record.txt"), "sleep": 300},
    }
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 8

    out = pyexp("launch", str(path), "--workers", "4", cwd=tmp_path)  # 3 run at once, 1 waits pending
    assert out.returncode == 0, out.stdout + out.stderr
    slurm_jobs += re.findall(r"(\d+) \(\d+ tasks\)", out.stdout)
    assert slurm_jobs
    end = time.monotonic() + 40
    while exp.counts()["running"] < 3:
        assert time.monotonic() < end, f"workers did not start: {exp.counts()}, squeue {squeue(slurm_jobs)}"
        time.sleep(0.3)

    out = pyexp("cancel", str(path), "--grace", "20", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"cancelled 1 SLURM job(s) ({slurm_jobs[0]})" in out.stdout
    assert squeue(slurm_jobs) == []  # nothing left running or pending
    counts = exp.counts()
    assert counts["running"] == 0 and counts["created"] == 8 and counts["error"] == 0, counts
    assert (exp.get_table()["pyexp_attempts"] == 0).all()  # released, not spent
    outcomes = exp.get_attempts()["outcome"]
    assert len(outcomes) >= 3 and set(outcomes) == {"released"}  # neither time_limit nor preempted
    assert set(exp.get_attempts()["error"]) == {"cancelled by pyexp cancel (SIGUSR2)"}
    assert exp.store.launches() == []  # ended: a second cancel finds nothing
    again = pyexp("cancel", str(path), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout
    exp.close()


def test_a_cancel_cut_short_leaves_its_launches_for_the_next(make_config: ConfigMaker, slurm_jobs: list[str]) -> None:
    """Ctrl-C while `pyexp cancel` waits out the grace: the job still runs, so its launch
    record must stay open (a second cancel finds it), though cancel ended it before signalling."""
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    store = exp.store
    submitted = subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--wrap", "trap '' USR2; sleep 300"],
                               capture_output=True, text=True, timeout=30)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    slurm_jobs.append(job)
    store.record_launch("slurm", [job], "login")
    end = time.monotonic() + 60
    while subprocess.run(["squeue", "-h", "-o", "%T", "-j", job], capture_output=True, text=True,
                         timeout=30).stdout.strip() != "RUNNING":
        assert time.monotonic() < end, "the job did not start"
        time.sleep(0.5)
    ctrl_c = threading.Timer(2.0, _thread.interrupt_main)  # in the grace wait: the job ignores USR2
    ctrl_c.start()
    with pytest.raises(KeyboardInterrupt):
        cancel(store.schema.name, store, grace_seconds=60)
    ctrl_c.join()
    assert [r["job_id"] for r in store.launches()] == [job] and not store.launch_ended(job)
    again = cancel(store.schema.name, store, grace_seconds=1)
    assert again.slurm_jobs == [job] and store.launches() == []
    exp.close()
