"""The examples run as their READMEs say (`bash run.sh`), on a copy in a temporary folder.

examples/slurm needs a cluster and MariaDB; tests/acceptance/test_slurm.py covers `pyexp launch`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT

from pyexperimenter import Experimenter

EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def run_example(name: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    if not (BIN / "pyexp").exists():
        pytest.skip("pyexp is not installed (pip install -e .)")
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns("*.db", "*.db-*", "*.png", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYEXP_")}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PYEXP": str(BIN / "pyexp"), "PYTHON": sys.executable})
    result = subprocess.run(["bash", "run.sh"], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_quickstart(tmp_path: Path) -> None:
    result = run_example("quickstart", tmp_path)
    out = result.stdout
    assert "sorting: added 24 of 24 grid rows" in out
    assert "24 experiment(s) finished" in out and "(24 done, 0 failed)" in out
    assert "24/24 finished (100.0%)" in out
    table = out[out.index("algorithm"):].splitlines()
    assert table[0].split() == ["algorithm", "length", "n", "seconds", "comparisons"]
    rows = {(r.split()[0], int(r.split()[1])): r.split() for r in table[1:]}
    assert len(rows) == 6 and all(r[2] == "4" for r in rows.values())
    # insertion sort compares about n^2/4 times; merge and built-in sort about n log2 n
    assert float(rows[("insertion", 2000)][4]) > 10 * float(rows[("merge", 2000)][4])
    assert result.stderr == ""  # no progress bars when output is not a terminal

    exp = Experimenter(tmp_path / "quickstart" / "experiment.yml")
    assert exp.counts()["done"] == 24


def test_sklearn_grid(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = run_example("sklearn_grid", tmp_path)
    out = result.stdout
    assert "sklearn_grid: added 60 of 60 grid rows" in out
    assert "(60 done, 0 failed)" in out and "60/60 finished (100.0%)" in out
    header = next(ln for ln in out.splitlines() if ln.split()[:3] == ["dataset", "model", "n"])
    assert header.split()[3:] == ["accuracy_mean", "accuracy_std", "f1_macro_mean", "f1_macro_std"]

    png = tmp_path / "sklearn_grid" / "accuracy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    exp = Experimenter(tmp_path / "sklearn_grid" / "experiment.yml")
    means = exp.results(group_by=["dataset", "model"], agg="mean")
    assert len(means) == 12 and set(means["n"]) == {5}
    assert (means["accuracy"] > 0.85).all()
    # the mean over seeds is the mean of the five rows, as the table has them
    table = exp.get_table()
    iris_svm = table[(table["dataset"] == "iris") & (table["model"] == "svm")]["accuracy"]
    row = means[(means["dataset"] == "iris") & (means["model"] == "svm")].iloc[0]
    assert row["accuracy"] == pytest.approx(sum(iris_svm) / 5)
