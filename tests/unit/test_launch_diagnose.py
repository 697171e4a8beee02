"""Workers that died, told from their SLURM logs; the configured interpreter tried before a launch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pyexperimenter.config import SlurmConfig
from pyexperimenter.errors import InputError
from pyexperimenter.launch.diagnose import dead_workers
from pyexperimenter.launch.preflight import interpreter_check

SUMMARY = "pyexp worker 5_{t}@n:1: ran 2 experiment(s): done 2, failed 0, released 0, recovered 0 lost run(s)\n"
START = "pyexp worker 5_{t}@n:1: table exp on sqlite:///x.db, function m:f\n"


def test_workers_that_all_ended_on_their_own_are_no_error(tmp_path: Path) -> None:
    for t in range(3):
        (tmp_path / f"5_{t}.log").write_text(START.format(t=t) + SUMMARY.format(t=t))
    assert dead_workers(tmp_path, ["5"]) is None


def test_workers_dead_at_start_are_quoted_with_the_folder(tmp_path: Path) -> None:
    for t in (10, 2):
        (tmp_path / f"5_{t}.log").write_text("".join(f"line {i}\n" for i in range(20)) + f"boom {t}\n")
    (tmp_path / "5_submission.sh").write_text("#!/bin/bash\n")
    said = dead_workers(tmp_path, ["5"])
    assert said is not None and said.startswith("all 2 worker(s) ended before claiming any row")
    assert f"{tmp_path / '5_2.log'}:" in said and "boom 2" in said and "boom 10" not in said  # task order
    assert "line 13" not in said and said.endswith(f"all worker logs: {tmp_path}")


def test_some_dead_workers_are_counted(tmp_path: Path) -> None:
    (tmp_path / "5_0.log").write_text(START.format(t=0) + SUMMARY.format(t=0))
    (tmp_path / "5_1.log").write_text(START.format(t=1) + "Killed\n")
    said = dead_workers(tmp_path, ["5"])
    assert said is not None and said.startswith("1 of 2 worker(s) died") and "Killed" in said


def test_no_log_at_all_names_the_folder(tmp_path: Path) -> None:
    said = dead_workers(tmp_path, ["5"])
    assert said is not None and str(tmp_path) in said and "slurm.log_dir" in said


def test_an_interpreter_without_the_package_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "python"  # an interpreter that starts but sees none of our packages
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")
    fake.chmod(0o755)
    with pytest.raises(InputError, match=r"slurm\.python: .* cannot import m:f: .*No module named 'pyexperimenter'"):
        interpreter_check(SlurmConfig(python=str(fake)), "m:f", tmp_path, None)


def test_setup_lines_that_cannot_run_here_are_only_a_note(tmp_path: Path) -> None:
    notes = interpreter_check(SlurmConfig(python=sys.executable, setup=("no-such-module-command load x", "exit 3")),
                              "m:f", tmp_path, None)
    assert len(notes) == 1 and "could not try slurm.python" in notes[0]


def test_the_working_interpreter_passes(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("def f(p, r, c):\n    return None\n")
    assert interpreter_check(SlurmConfig(python=sys.executable), "mymod:f", tmp_path, None) == []
