"""`pyexp cancel` of `pyexp launch --local` workers, on SQLite and a real MariaDB: the
workers get SIGTERM, hand their rows back without spending an attempt, and exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from conftest import ConfigMaker
from support.workers import wait_for

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

TESTS = Path(__file__).resolve().parent.parent
PYEXP = Path(sys.executable).parent / "pyexp"


def test_cancel_local_workers(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(experiment={"function": "experiments:sleepy"}, parameters={"x": [1, 2, 3, 4], "y": ["a"]},
                       custom={"record": str(tmp_path / "record.txt"), "sleep": 120})
    runner = CliRunner()
    assert runner.invoke(main, ["fill", str(path)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    launcher = subprocess.Popen([str(PYEXP), "launch", str(path), "--workers", "2", "--local"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        exp = Experimenter(path)
        wait_for("two running rows", lambda: exp.counts()["running"] == 2, 60, every=0.2)
        assert len(exp.store.launches()) == 2  # the pids, recorded in <table>_launches
        started = time.monotonic()
        result = runner.invoke(main, ["cancel", str(path), "--grace", "20"])
        assert result.exit_code == 0, result.output
        assert "cancelled 0 SLURM job(s) and 2 local worker(s)" in result.output
        assert time.monotonic() - started < 20
        launcher.wait(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    counts = exp.counts()
    assert counts["running"] == 0 and counts["created"] == 4 and counts["error"] == 0  # none lost
    table = exp.get_table()
    assert (table["pyexp_attempts"] == 0).all()  # not spent
    assert set(exp.get_attempts()["outcome"]) == {"released"}
    assert exp.store.launches() == []
    again = runner.invoke(main, ["cancel", str(path)])
    assert again.exit_code == 0 and "nothing to cancel" in again.output
