"""The launcher end to end without a cluster: `pyexp launch --dry-run` and `--local`, the
worker entry point as the nodes run it, and the templates as installed package data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.configs import ConfigMaker
from support.paths import ROOT, TESTS

from pyexperimenter import Experimenter
from pyexperimenter.launch import TEMPLATE_DIR

PYEXP = Path(sys.executable).parent / "pyexp"


# ----------------------------------------------------------------------------- checks before submitting


def _launch_cli(config: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(TESTS), **(env or {})}
    return subprocess.run([str(PYEXP), "launch", str(config), *args], capture_output=True, text=True,
                          cwd=cwd or config.parent, env=full_env, timeout=120)


def test_dry_run_prints_plan_and_script_and_caps_workers(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(experiment={"function": "experiments:noop"}, slurm={"time_minutes": 30, "setup": ["echo hi"]})
    Experimenter(path).fill_table_from_config()
    out = _launch_cli(path, "--workers", "500", "--dry-run", "--partition", "debug", "--mem-gb", "2")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "capped at 20 worker(s): only 20 open row(s)" in text
    assert "#SBATCH --array=0-19" in text and "#SBATCH --partition=debug" in text and "#SBATCH --mem=2G" in text
    assert "#SBATCH --time=30" in text and "echo hi" in text
    assert "-m pyexperimenter.worker --config" in text and "--function experiments:noop" in text
    assert f"--output={tmp_path / 'pyexp_logs' / 'exp'}/%A_%a.log" in text
    assert "dry run: nothing was submitted" in text
    assert not (tmp_path / "pyexp_logs").exists()


def test_function_that_does_not_import_is_refused(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"function": "no_such_module:run"})
    Experimenter(path).fill_table_from_config()
    out = _launch_cli(path, "--workers", "2", "--dry-run")
    assert out.returncode == 2
    assert "cannot import module 'no_such_module'" in out.stderr
    assert f"{path}: experiment.function: " in out.stderr  # from the config: the file and the key


def test_missing_table_is_refused(make_config: ConfigMaker) -> None:
    out = _launch_cli(make_config(experiment={"function": "experiments:noop"}), "--workers", "2", "--dry-run")
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "pyexp fill" in out.stderr


# ----------------------------------------------------------------------------- the worker entry point and --local


def test_worker_entry_names_itself_after_the_array_task(make_config: ConfigMaker, tmp_path: Path) -> None:
    path = make_config(custom={"record": str(tmp_path / "rec.txt")})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    env = {**os.environ, "PYTHONPATH": str(TESTS), "SLURM_JOB_ID": "81", "SLURM_ARRAY_JOB_ID": "77",
           "SLURM_ARRAY_TASK_ID": "3"}
    cmd = [sys.executable, "-m", "pyexperimenter.worker", "--config", str(path), "--function",
           "experiments:recording"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"pyexp worker 77_3@\S+:\d+: ran 20 experiment\(s\): done 20", out.stdout)
    table = exp.get_table()
    assert set(table["status"]) == {"done"}
    assert all(re.fullmatch(r"77_3@.+:\d+", w) for w in table["pyexp_worker"])


def test_worker_past_its_deadline_claims_nothing(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"function": "experiments:noop"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYEXP_DEADLINE": "1000"}
    cmd = [sys.executable, "-m", "pyexperimenter.worker", "--config", str(path), "--function",
           "experiments:noop"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ran 0 experiment(s)" in out.stdout
    assert exp.counts()["created"] == 20


def test_local_drains_the_table_without_slurm(make_config: ConfigMaker, tmp_path: Path) -> None:
    # A long stale_after: this checks the claim, not the sweep (a late heartbeat runs a row again).
    path = make_config(experiment={"function": "experiments:recording", "stale_after_seconds": 60},
                       custom={"record": str(tmp_path / "rec.txt"), "sleep": 0.2})
    Experimenter(path).fill_table_from_config()
    # No sbatch, sinfo or scontrol on PATH: --local needs none of them.
    out = _launch_cli(path, "--workers", "4", "--local", env={"PATH": str(Path(sys.executable).parent)})
    assert out.returncode == 0, out.stderr + out.stdout
    assert "ran          4 local worker(s)" in out.stdout
    table = Experimenter(path).get_table()
    assert set(table["status"]) == {"done"} and len(table) == 20
    assert len(set(table["pyexp_worker"])) >= 2
    logs = sorted((tmp_path / "pyexp_logs" / "exp").glob("local-*.log"))
    assert len(logs) == 4 and all("pyexp worker" in log.read_text() for log in logs)
    executions = [line.split()[0] for line in (tmp_path / "rec.txt").read_text().splitlines()]
    assert sorted(executions) == sorted(set(executions))  # each row ran exactly once


# ----------------------------------------------------------------------------- the templates as package data


def test_editable_install_reads_the_top_level_templates(tmp_path: Path) -> None:
    """slurm_templates/ sits at the repository's top; the editable install maps it into the
    package. Asked from another folder, so the checkout is not on sys.path by accident."""
    import pyexperimenter

    if not Path(pyexperimenter.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("pyexperimenter is not installed from this checkout")
    code = "from pyexperimenter.launch import TEMPLATE_DIR; print(TEMPLATE_DIR / 'cpu.sbatch')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == ROOT / "slurm_templates" / "cpu.sbatch"
    assert (TEMPLATE_DIR / "gpu.sbatch").read_text() == (ROOT / "slurm_templates" / "gpu.sbatch").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_wheel_carries_the_templates(make_config: ConfigMaker, tmp_path: Path) -> None:
    """Build a wheel of this checkout, install it into a fresh venv, and dry-run a launch with
    the installed `pyexp`: the script comes from the wheel's own copy of the templates.

    The build runs without isolation (the test environment's setuptools, no download); the
    venv gets the wheel alone (`--no-deps`) and borrows the test environment's dependencies
    through a .pth line, which adds their folder to sys.path without running the .pth files
    in it, so the editable install of this checkout stays out of the venv.
    """
    import sysconfig

    source, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    for name in ("pyproject.toml", "setup.py", "README.md"):
        source.mkdir(exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    for name in ("pyexperimenter", "slurm_templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("pyexperimenter-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"pyexperimenter/slurm_templates/cpu.sbatch", "pyexperimenter/slurm_templates/gpu.sbatch"} <= names

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    (site / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    path = make_config(experiment={"function": "experiments:noop"})
    Experimenter(path).fill_table_from_config()
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    out = subprocess.run([str(venv / "bin" / "pyexp"), "launch", str(path), "--workers", "2", "--dry-run"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    template = site / "pyexperimenter" / "slurm_templates" / "cpu.sbatch"
    assert f"  template     {template}\n" in out.stdout
    assert "#SBATCH --array=0-1" in out.stdout and "-m pyexperimenter.worker --config" in out.stdout
    where = subprocess.run([str(python), "-c", "import pyexperimenter; print(pyexperimenter.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, timeout=60).stdout.strip()
    assert Path(where).is_relative_to(site)
