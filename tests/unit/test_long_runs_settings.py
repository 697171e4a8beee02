"""Long runs' settings (docs/long-runs.md): the config keys and their errors, the signal lead
sized from the grace period, the grace fitted into the lead, and what the job script tells a
worker about its grace and its task requeues. Pure logic: no database, no cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pyexperimenter import environment
from pyexperimenter.config import SlurmConfig, load_config
from pyexperimenter.errors import ConfigError
from pyexperimenter.launch.script import effective_signal_seconds, long_run_lines


def config(tmp_path: Path, experiment: dict[str, Any] | None = None, slurm: dict[str, Any] | None = None) -> Any:
    data: dict[str, Any] = {"experiment": {"name": "t", **(experiment or {})}, "parameters": {"x": [1]}}
    if slurm:
        data["slurm"] = slurm
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def test_defaults_and_the_checkpoint_folder(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert (cfg.stop_grace_seconds, cfg.max_requeues, cfg.keep_checkpoints) == (60.0, 10, False)
    assert cfg.slurm.signal_seconds == 120 and cfg.slurm.max_task_requeues == 10
    assert cfg.checkpoint_root() == (tmp_path / "pyexp_logs" / "t" / "checkpoints" / "t").resolve()
    cfg = config(tmp_path, {"checkpoint_dir": "/scratch/ckpt", "stop_grace_seconds": 300})
    assert cfg.checkpoint_root() == Path("/scratch/ckpt/t")
    assert cfg.slurm.signal_seconds == 360  # sized from the grace
    assert config(tmp_path, {"stop_grace_seconds": 300}, {"signal_seconds": 90}).slurm.signal_seconds == 90


@pytest.mark.parametrize(("experiment", "slurm", "message"), [
    ({"stop_grace_seconds": -1}, None, "experiment.stop_grace_seconds: expected a number of seconds >= 0, got -1"),
    ({"max_requeues": -2}, None, "experiment.max_requeues: expected an integer >= 0, got -2"),
    ({"keep_checkpoints": "yes"}, None, "experiment.keep_checkpoints: expected bool, got 'yes'"),
    ({"checkpoint_dir": " "}, None, "experiment.checkpoint_dir: expected a folder (relative to the config's folder), got ' '"),
    (None, {"max_task_requeues": -1}, "slurm.max_task_requeues: expected an integer >= 0, got -1"),
])
def test_bad_values_are_one_clear_line(tmp_path: Path, experiment: Any, slurm: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        config(tmp_path, experiment, slurm)
    assert str(e.value) == f"{tmp_path / 'experiment.yml'}: {message}"


@pytest.mark.parametrize(("minutes", "grace", "lead", "given"), [
    (60, 60, 120, 60),  # the default: the whole grace, a minute to hand back and exit
    (1, 60, 20, 10),  # a third of a one-minute limit; the grace fits inside it
    (600, 1800, 1860, 1800),
    (5, 0, 60, 1),
])
def test_the_lead_and_the_grace_in_the_job_script(tmp_path: Path, minutes: int, grace: int, lead: int,
                                                   given: int) -> None:
    cfg = config(tmp_path, {"stop_grace_seconds": grace}, {"time_minutes": minutes})
    assert effective_signal_seconds(cfg.slurm) == lead
    assert long_run_lines(cfg, cfg.slurm) == [f"export PYEXP_STOP_GRACE={given}", "export PYEXP_TASK_REQUEUES=10"]
    no_requeue = SlurmConfig(time_minutes=minutes, signal_seconds=cfg.slurm.signal_seconds, max_task_requeues=0)
    assert long_run_lines(cfg, no_requeue)[1] == "export PYEXP_TASK_REQUEUES=0"


def test_what_a_worker_reads_from_its_environment() -> None:
    assert environment.stop_grace(60.0, {}) == 60.0
    assert environment.stop_grace(60.0, {"PYEXP_STOP_GRACE": "10"}) == 10.0
    assert environment.stop_grace(60.0, {"PYEXP_STOP_GRACE": "soon"}) == 60.0
    assert environment.task_requeues_left({}) == 0  # started by hand: never requeues a task
    assert environment.task_requeues_left({"PYEXP_TASK_REQUEUES": "3"}) == 3
    assert environment.task_requeues_left({"PYEXP_TASK_REQUEUES": "3", "SLURM_RESTART_COUNT": "2"}) == 1
    assert environment.task_requeues_left({"PYEXP_TASK_REQUEUES": "3", "SLURM_RESTART_COUNT": "5"}) == 0


def test_a_grid_engine_task_counts_its_requeues_in_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grid Engine keeps no restart count: the file the job script names keeps it, written
    before the worker exits with 99; without the file's name a task never requeues."""
    from pyexperimenter.worker.requeue import requeue_task

    sge = {"JOB_ID": "7", "SGE_TASK_ID": "2", "SGE_ROOT": "/opt/sge", "PYEXP_TASK_REQUEUES": "2"}
    assert environment.task_requeues_left(sge) == 0  # a site's own template without the file: never
    count = tmp_path / "7_2.requeues"
    for name, value in {**sge, "PYEXP_REQUEUES_FILE": str(count)}.items():
        monkeypatch.setenv(name, value)
    assert environment.task_requeues_left() == 2  # no file yet: none so far
    first = requeue_task()
    assert first.exit_code == 99 and "requeue 1 of this task" in first.note and count.read_text() == "1\n"
    assert environment.task_requeues_left() == 1
    assert requeue_task().exit_code == 99 and environment.task_requeues_left() == 0
    count.write_text("garbage")
    assert environment.task_requeues_left() == 0  # unreadable: as good as used up
    assert requeue_task().exit_code is None  # and nothing counted on top of it
    monkeypatch.setenv("PYEXP_REQUEUES_FILE", str(tmp_path / "no" / "such" / "folder" / "7_2.requeues"))
    refused = requeue_task()
    assert refused.exit_code is None and refused.note.startswith("not requeued: cannot count")


def test_a_task_requeues_itself_only_when_its_allocation_ended_with_rows_open(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexperimenter.worker.requeue import task_requeue_wanted

    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "PYEXP_TASK_REQUEUES",
                 "SLURM_RESTART_COUNT", "JOB_ID", "SGE_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    yes, rows = (lambda: True), (lambda: 2)
    assert not task_requeue_wanted(yes, rows)  # no scheduler
    monkeypatch.setenv("SLURM_JOB_ID", "8")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "7")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert not task_requeue_wanted(yes, rows)  # no PYEXP_TASK_REQUEUES: --no-requeue, or started by hand
    monkeypatch.setenv("PYEXP_TASK_REQUEUES", "2")
    assert task_requeue_wanted(yes, rows)
    assert not task_requeue_wanted(lambda: False, rows)  # pyexp cancel, Ctrl-C, its own quarantine
    assert not task_requeue_wanted(yes, lambda: 0)  # nothing left to claim
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert not task_requeue_wanted(yes, rows)  # its requeues are used up


def test_the_deadline_alarm_stops_the_worker_at_its_deadline_and_not_after_it_left() -> None:
    """A Grid Engine worker's own time-limit signal (worker/signals.py): SIGUSR1 to the main
    thread at the deadline; cancelled when the worker is done before it."""
    import signal
    import time

    from support.workers import wait_for

    from pyexperimenter.worker.signals import DeadlineAlarm

    rung: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda signum, frame: rung.append(signum))
    try:
        with DeadlineAlarm(time.time() + 0.3):
            wait_for("the alarm", lambda: rung, 30)
        assert rung == [signal.SIGUSR1]
        with DeadlineAlarm(time.time() + 1.0):
            pass
        time.sleep(1.5)
        assert rung == [signal.SIGUSR1]  # the worker left first: no second ring
    finally:
        signal.signal(signal.SIGUSR1, before)
