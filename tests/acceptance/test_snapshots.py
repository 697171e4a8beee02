"""The code as it was: launch, edit the experiment's source, and the rows run afterwards still
give the old code's results; their attempts carry the snapshot's hash and `pyexp snapshot`
shows and restores it. Locally on every backend, and as an ordinary user on real SLURM."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support.configs import config_maker
from support.ordinary_user import OrdinaryUser
from support.services import require_slurm
from support.workers import wait_for

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

PYEXP = Path(sys.executable).parent / "pyexp"

# The experiment: it waits for the test's "go" file, then imports `late` (after the test has
# edited it): only a worker importing from the snapshot still sees VERSION 1.
EXP = '''import os, time


def run(parameters, result_processor, custom):
    end = time.monotonic() + 120
    while not os.path.exists(custom["go"]) and time.monotonic() < end:
        time.sleep(0.05)
    from . import late
    return {"value": parameters["x"] * late.VERSION}
'''


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True,
                   capture_output=True)


def make_project(folder: Path, package: str = "snapexp", user: OrdinaryUser | None = None) -> Path:
    """A git work tree holding the experiment package (the user's own, if given); the config
    goes next to it."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "exp.py").write_text(EXP)
    (folder / package / "late.py").write_text("VERSION = 1\n")
    for args in (("init", "-q"), ("add", package), ("commit", "-qm", "the code as launched")):
        if user is None:
            git(folder, *args)
        else:  # git refuses a repository another user owns
            user.give(folder)
            done = user.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=folder)
            assert done.returncode == 0, done.stderr
    return folder


def edit(folder: Path, package: str = "snapexp") -> None:
    (folder / package / "late.py").write_text("VERSION = 100\n")
    (folder / package / "exp.py").write_text(EXP.replace("parameters[\"x\"] *", "-parameters[\"x\"] *"))


def test_launch_local_runs_the_launched_code_after_an_edit(tmp_path: Path, db_url: str) -> None:
    folder = make_project(tmp_path / "project")
    config = folder / "experiment.yml"
    config.write_text(yaml.safe_dump({
        "experiment": {"name": "snap", "function": "snapexp.exp:run", "heartbeat_seconds": 1, "stale_after_seconds": 5},
        "database": {"url": db_url},
        "parameters": {"x": [1, 2, 3, 4]},
        "results": {"value": "DOUBLE"},
        "custom": {"go": str(tmp_path / "go")},
    }, sort_keys=False))
    runner = CliRunner()
    assert runner.invoke(main, ["fill", str(config)]).exit_code == 0
    launcher = subprocess.Popen([str(PYEXP), "launch", str(config), "--workers", "2", "--local"], cwd=folder,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        exp = Experimenter(config)
        wait_for("two running rows", lambda: exp.counts()["running"] == 2, 120, every=0.1)
        edit(folder)  # the workers are running; rows 3 and 4 are not even claimed yet
        (tmp_path / "go").touch()
        out, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, out
    shown = re.search(r"code snapshot ([0-9a-f]{12}): 3 file\(s\).* of the git work tree", out)
    assert shown is not None, out
    table = exp.get_table()
    assert sorted(zip(table["x"], table["value"])) == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]  # VERSION 1
    hashes = set(exp.get_attempts()["snapshot"])
    assert len(hashes) == 1 and next(iter(hashes)).startswith(shown.group(1))
    (taken,) = hashes

    listed = runner.invoke(main, ["snapshot", str(config)])
    assert listed.exit_code == 0, listed.output
    assert f"snapshot {taken}: 4 attempt(s) of 4 row(s)" in listed.output
    assert "snapexp/late.py" in listed.output and "3 file(s)" in listed.output
    restored = runner.invoke(main, ["snapshot", str(config), "3", "--restore", str(tmp_path / "restored")])
    assert restored.exit_code == 0, restored.output
    assert (tmp_path / "restored" / "snapexp" / "late.py").read_text() == "VERSION = 1\n"
    assert (tmp_path / "restored" / "snapexp" / "exp.py").read_text() == EXP

    # Run again now: the edited code, a new snapshot; the table has run two.
    assert runner.invoke(main, ["reset", str(config), "--status", "done", "--yes"]).exit_code == 0
    again = subprocess.run([str(PYEXP), "run", str(config)], cwd=folder, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stderr == "", again.stderr  # a snapshot is quiet; `pyexp snapshot` shows it
    assert sorted(Experimenter(config).get_table()["value"]) == [-400.0, -300.0, -200.0, -100.0]
    two = runner.invoke(main, ["snapshot", str(config)])
    assert two.output.count("snapshot ") == 2 and two.output.index(taken) < two.output.rindex("snapshot ")
    ambiguous = runner.invoke(main, ["snapshot", str(config), "--restore", str(tmp_path / "which")])
    assert ambiguous.exit_code == 2 and "ran 2 code snapshots; name a row" in ambiguous.output
    assert not (tmp_path / "which").exists()


def test_no_snapshot_and_bad_input(tmp_path: Path) -> None:
    path = config_maker(tmp_path, f"sqlite:///{tmp_path / 'exp.db'}")(experiment={"function": "experiments:noop"}, parameters={"x": [1, 2], "y": ["a"]})
    runner = CliRunner()
    assert runner.invoke(main, ["fill", str(path)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    ran = subprocess.run([str(PYEXP), "launch", str(path), "--workers", "1", "--local", "--no-snapshot"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "code snapshot" not in ran.stdout
    assert not (tmp_path / "pyexp_logs" / "exp" / "snapshots").exists()
    exp = Experimenter(path)
    assert exp.get_attempts()["snapshot"].isna().all()
    listed = runner.invoke(main, ["snapshot", str(path)])
    assert listed.exit_code == 0 and listed.output.startswith("no snapshot: 2 attempt(s) of 2 row(s)")
    missing = runner.invoke(main, ["snapshot", str(path), "99"])
    assert missing.exit_code == 2 and "no row with ID 99" in missing.output
    nothing = runner.invoke(main, ["snapshot", str(path), "1", "--restore", str(tmp_path / "r")])
    assert nothing.exit_code == 2 and "row 1's attempts recorded no code snapshot" in nothing.output


def test_execute_in_a_notebook_runs_what_is_loaded_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A function defined in __main__ (a notebook cell) has no snapshot, in one warning line; a
    function named `module:function` is imported from a snapshot and its attempts carry it."""
    folder = make_project(tmp_path / "nb", package="snapnb")
    (tmp_path / "go").touch()
    config = folder / "experiment.yml"
    config.write_text(yaml.safe_dump({
        "experiment": {"name": "nb", "heartbeat_seconds": 1, "stale_after_seconds": 5},
        "database": {"url": f"sqlite:///{tmp_path / 'nb.db'}"},
        "parameters": {"x": [1, 2]},
        "results": {"value": "DOUBLE"},
        "custom": {"go": str(tmp_path / "go")},
    }, sort_keys=False))
    exp = Experimenter(config)
    exp.fill_table_from_config()
    cell: dict[str, Any] = {"__name__": "__main__"}
    exec("def run(parameters, result_processor, custom):\n    return {'value': -parameters['x']}\n", cell)  # noqa: S102
    with caplog.at_level(logging.WARNING, logger="pyexperimenter"):
        exp.execute(cell["run"], max_experiments=1)
    said = [r.getMessage() for r in caplog.records if "snapshot" in r.getMessage()]
    assert said == ["no code snapshot: run is defined in __main__ (a script or notebook) and runs as loaded in this "
                    "process; pass it as 'module:function' to run and record a snapshot"]
    caplog.clear()

    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        with caplog.at_level(logging.WARNING, logger="pyexperimenter"):
            exp.execute("snapnb.exp:run")
        assert not [r for r in caplog.records if "snapshot" in r.getMessage()]
        loaded = sys.modules["snapnb.late"].__file__
        assert loaded is not None and "/snapshots/" in loaded
    finally:
        for name in ("snapnb.late", "snapnb.exp", "snapnb"):
            sys.modules.pop(name, None)
    attempts = exp.get_attempts().sort_values("experiment_id")
    assert attempts["snapshot"].isna().tolist() == [True, False]
    assert Path(loaded).parts[-3] == attempts["snapshot"].iloc[1]
    assert sorted(exp.get_table()["value"]) == [-1.0, 2.0]


def test_slurm_launch_runs_the_launched_code_as_an_ordinary_user(ordinary_user: OrdinaryUser, mysql_url: str) -> None:
    """Submitted held, edited, then released: every task starts after the edit and still
    imports the launched code, from the snapshot on the shared folder."""
    require_slurm()
    folder = ordinary_user.workdir("snapshot")
    make_project(folder, user=ordinary_user)
    (folder / "go").touch()
    config = folder / "experiment.yml"
    config.write_text(yaml.safe_dump({
        "experiment": {"name": "snapslurm", "function": "snapexp.exp:run", "heartbeat_seconds": 1,
                       "stale_after_seconds": 5},
        "database": {"url": mysql_url},
        "parameters": {"x": [1, 2, 3, 4, 5, 6]},
        "results": {"value": "DOUBLE"},
        "slurm": {"partition": "debug", "time_minutes": 10, "mem_gb": 0.25},
        "custom": {"go": str(folder / "go")},
    }, sort_keys=False))
    ordinary_user.give(folder)
    assert ordinary_user.run(["pyexp", "fill", str(config)], cwd=folder).returncode == 0
    out = ordinary_user.run(["pyexp", "launch", str(config), "--workers", "2", "--sbatch", "hold"], cwd=folder,
                            timeout=240)
    jobs = re.findall(r"(\d+) \(\d+ tasks\)", out.stdout)
    try:
        assert out.returncode == 0, out.stderr + out.stdout
        assert len(jobs) == 1, out.stdout
        assert "code snapshot" in out.stdout, out.stdout
        edit(folder)
        ordinary_user.give(folder)
        released = subprocess.run(["scontrol", "release", jobs[0]], capture_output=True, text=True, timeout=30)
        assert released.returncode == 0, released.stderr
        exp = Experimenter(config)
        wait_for("six done rows", lambda: exp.counts()["done"] == 6, 240, every=0.1)
        table = exp.get_table()
        assert sorted(table["value"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # VERSION 1: the launched code
        attempts = exp.get_attempts()
        (taken,) = set(attempts["snapshot"])
        assert set(attempts["array_job_id"].astype(str)) == {jobs[0]}  # all ran by the held, then released, array
        restored = ordinary_user.run(["pyexp", "snapshot", str(config), "6", "--restore", str(folder / "restored")],
                                     cwd=folder)
        assert restored.returncode == 0, restored.stderr
        assert f"snapshot {taken} written" in restored.stdout
        assert (folder / "restored" / "snapexp" / "late.py").read_text() == "VERSION = 1\n"
        assert (folder / "snapexp" / "late.py").read_text() == "VERSION = 100\n"
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
