"""The log folder's disk fills up: output is lost, never an experiment.

A 64 KB tmpfs holds the log folder (the attempts' output files, and with `launch --local`
the workers' own logs); each experiment prints 100 KB. Every row ends `done`, each attempt
keeps its last 4 KB with a note saying the rest was lost, and `pyexp logs` shows both.
Needs root (mount).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import ConfigMaker
from support.workers import worker_env

from pyexperimenter import Experimenter

ROWS = 12


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "logs"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True, timeout=30)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


def pyexp(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyexperimenter.cli", *args], env=worker_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["run", "launch --local", "launch --local, full at start"])
def test_a_full_log_disk_costs_output_not_experiments(make_config: ConfigMaker, full_disk: Path, how: str) -> None:
    if how.endswith("full at start"):  # the workers' first lines already fail
        with open(full_disk / "filler", "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"x" * 4096)
    path = make_config(experiment={"function": "experiments:verbose", "max_attempts": 1},
                       parameters={"x": {"start": 0, "stop": ROWS}}, results={"value": "DOUBLE"},
                       slurm={"log_dir": str(full_disk)}, custom={"kb": 100})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == ROWS
    args = ["run", str(path), "-j", "2"] if how == "run" else ["launch", str(path), "--local", "--workers", "3"]
    out = pyexp(*args)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    table = exp.get_table()
    assert list(table["status"]) == ["done"] * ROWS, table["error"].dropna().tolist()[:1]
    attempts = exp.get_attempts()
    assert len(attempts) == ROWS and set(attempts["outcome"]) == {"done"}
    for _, a in attempts.iterrows():
        tail = a["log_tail"]
        assert "No space left on device" in tail and "output lost" in tail, tail[:300]
        assert tail.rstrip().endswith(f"last line of {a['experiment_id'] - 1}"), tail[-200:]
    some = int(table["ID"].iloc[-1])
    logs = pyexp("logs", str(path), str(some))
    assert logs.returncode == 0, logs.stderr
    assert "No space left on device" in logs.stderr and "output lost" in logs.stderr, logs.stderr
    assert logs.stdout.rstrip().endswith(f"last line of {some - 1}"), logs.stdout[-300:]
    assert len(logs.stdout) > 4000
    exp.close()
