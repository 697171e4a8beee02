"""`run --gpus` and provenance per attempt, on SQLite and a real MariaDB.

No GPU here: device ids are fake, and `--gpus auto` meets a fake `nvidia-smi` on PATH.
The experiment reads CUDA_VISIBLE_DEVICES itself and returns it, so the test checks what
each worker really saw, not what we meant to give it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.cli import main
from pyexperimenter.errors import InputError


def visible_devices(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    time.sleep(0.05)
    return {"value": float(os.getpid()), "label": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


def devices_by_worker(exp: Experimenter) -> dict[int, set[str]]:
    table = exp.get_table()
    assert (table["status"] == "done").all()
    attempts = exp.get_attempts().set_index("experiment_id")
    seen: dict[int, set[str]] = defaultdict(set)
    for row in table.itertuples():
        assert attempts.loc[row.ID, "cuda_devices"] == row.label  # recorded with the attempt
        seen[int(row.value)].add(str(row.label))
    return seen


def test_each_worker_gets_its_own_device(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    assert exp.execute(visible_devices, n_jobs=4, gpus="0,1,2,3") == [0] * 4
    seen = devices_by_worker(exp)
    assert all(len(devices) == 1 for devices in seen.values())  # a worker kept its device
    used = [next(iter(d)) for d in seen.values()]
    assert len(used) == len(set(used)) >= 2 and set(used) <= {"0", "1", "2", "3"}


def test_gpus_per_job_and_too_few_devices(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    with pytest.raises(InputError, match=r"--gpus: 4 job\(s\) x 2 GPU\(s\) per job need 8 devices, only 4 given"):
        exp.execute(visible_devices, n_jobs=4, gpus="0,1,2,3", gpus_per_job=2)
    assert exp.counts()["created"] == 20
    assert exp.execute(visible_devices, n_jobs=2, gpus="0,1,2,3", gpus_per_job=2) == [0, 0]
    used = {d for devices in devices_by_worker(exp).values() for d in devices}
    assert used <= {"0,1", "2,3"} and used


def test_gpus_auto_reads_nvidia_smi(make_config: ConfigMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake A100 (UUID: GPU-aaaa)'\necho 'GPU 1: Fake A100 (UUID: GPU-bbbb)'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # nvidia-smi wins
    path = make_config(experiment={"function": "test_gpus_and_provenance:visible_devices"})
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    assert CliRunner().invoke(main, ["fill", str(path)]).exit_code == 0
    result = CliRunner().invoke(main, ["run", str(path), "--jobs", "2", "--gpus", "auto"])
    assert result.exit_code == 0, result.output
    used = {d for devices in devices_by_worker(Experimenter(path)).values() for d in devices}
    assert used <= {"0", "1"} and used
    result = CliRunner().invoke(main, ["run", str(path), "--jobs", "3", "--gpus", "auto"])
    assert result.exit_code == 2 and "need 3 devices, only 2 given (0,1)" in result.output


CODE = '''
def run(parameters, result_processor, custom):
    import time
    time.sleep(0.05)
    return {"value": 1.0}
'''


def git(folder: Path, *args: str) -> str:
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def load_module(path: Path) -> Any:
    name = f"prov_{path.parent.name}_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


PROVENANCE = ["git_commit", "git_dirty", "git_diff_hash", "python_version", "packages_hash"]


def test_provenance_is_filled_stable_and_sees_a_dirty_folder(make_config: ConfigMaker, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module_file = code / "experiment_code.py"
    module_file.write_text(CODE)
    git(code, "init", "-q")
    git(code, "add", ".")
    git(code, "commit", "-qm", "experiment")
    head = git(code, "rev-parse", "HEAD")
    fn = load_module(module_file).run

    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    assert exp.execute(fn, n_jobs=2) == [0, 0]
    attempts = exp.get_attempts()
    assert attempts["pid"].nunique() == 2  # two workers, one environment: the same provenance
    for column in PROVENANCE:
        assert attempts[column].nunique(dropna=False) == 1, column
    first = attempts.iloc[0]
    assert first["git_commit"] == head and first["git_dirty"] == 0 and first["git_diff_hash"] is None
    assert first["python_version"] == ".".join(map(str, sys.version_info[:3]))
    packages = exp.store.rows(exp.store.schema.packages_table)
    assert [p["packages_hash"] for p in packages] == [first["packages_hash"]]  # the list once
    assert "pyyaml==" in packages[0]["packages"].lower()

    with module_file.open("a") as f:
        f.write("# an uncommitted change\n")
    exp.reset_experiments("all")
    assert exp.execute(load_module(module_file).run, n_jobs=2) == [0, 0]
    latest = exp.get_attempts().query("outcome == 'done'")
    assert set(latest["git_dirty"]) == {0, 1}
    dirty = latest[latest["git_dirty"] == 1]
    assert dirty["git_diff_hash"].nunique() == 1 and dirty["git_diff_hash"].iloc[0] is not None
    assert set(dirty["git_commit"]) == {head}
    assert len(exp.store.rows(exp.store.schema.packages_table)) == 1

    frame = exp.results(with_provenance=True)
    assert len(frame) == 20 and set(frame["git_dirty"]) == {1} and set(frame["git_commit"]) == {head}
    exp.close()


def test_results_with_provenance_on_the_command_line(make_config: ConfigMaker, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_config(experiment={"function": "test_gpus_and_provenance:visible_devices"},
                       parameters={"x": [1, 2], "y": ["a"]})
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    runner = CliRunner()
    assert runner.invoke(main, ["fill", str(path)]).exit_code == 0
    assert runner.invoke(main, ["run", str(path), "--gpus", "5"]).exit_code == 0
    result = runner.invoke(main, ["results", str(path), "--with-provenance", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["cuda_devices"] for r in rows] == ["5", "5"] and all(r["python_version"] for r in rows)
    table = runner.invoke(main, ["results", str(path), "--with-provenance"])
    assert "git_commit" in table.output and "packages_hash" in table.output
