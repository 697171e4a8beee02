"""launch/sge_script.py and the Grid Engine side of plan.py: the job script rendered from
cpu.sge, compared with recorded files in tests/data/ (after a deliberate template change,
rewrite them with PYEXP_RECORD=1 and review the diff), arrays under max_aj_tasks and
max_aj_instances, and the answers of qconf read as text. Pure: no cell needed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.configs import config_maker
from support.paths import DATA

from pyexperimenter.config import SgeConfig, SlurmConfig, load_config
from pyexperimenter.errors import ConfigError, InputError
from pyexperimenter.launch import TEMPLATE_DIR, ArrayPlan, plan_arrays
from pyexperimenter.launch.scheduler import JobInputs
from pyexperimenter.launch.schedulers import get, pick
from pyexperimenter.launch.sge_script import (
    SgeScript,
    duration_seconds,
    h_rt,
    memory_per_slot,
    parse_limits,
    queue_value,
    template_path,
)

INPUTS = JobInputs(
    table="svm_grid",
    python="/opt/venv/bin/python",
    workdir=Path("/home/ada/project"),
    log_dir=Path("/home/ada/project/pyexp_logs/svm_grid"),
    worker_args=["--config", "/home/ada/project/experiment.yml", "--db", "mysql://ada@db.cluster:3306/exps",
                 "--function", "experiments.svm:run"],
    environment=["export PYTHONPATH=/home/ada/lib${PYTHONPATH:+:$PYTHONPATH}"],
    passed=["PYEXP_DB_PASSWORD"],
)

CASES = {
    "launch_cpu.sge": (
        SlurmConfig(time_minutes=90, mem_gb=4, cpus_per_task=2, setup=("module load python/3.11",)),
        SgeConfig(queue="long.q", options=("-P ml", "-l s_rt=1:25:00")),
        ArrayPlan(100, 40),
    ),
    "launch_gpu.sge": (
        SlurmConfig(time_minutes=1500, mem_gb=15.5, gpus_per_node=1, signal_seconds=300),
        SgeConfig(gpu_resource="gpu", memory_resource="mem_free"),
        ArrayPlan(16, 16),
    ),
}


@pytest.mark.parametrize("recorded", sorted(CASES))
def test_rendered_script_matches_recorded_file(recorded: str) -> None:
    slurm, sge, array = CASES[recorded]
    text = SgeScript(INPUTS, slurm, sge).render(array, (TEMPLATE_DIR / "cpu.sge").read_text(), "cpu.sge")
    path = DATA / recorded
    if os.environ.get("PYEXP_RECORD") == "1":
        path.write_text(text)
    assert text == path.read_text()
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_script_holds_what_grid_engine_needs() -> None:
    slurm, sge, array = CASES["launch_cpu.sge"]
    lines = SgeScript(INPUTS, slurm, sge).render(array, (TEMPLATE_DIR / "cpu.sge").read_text(), "t").splitlines()
    for wanted in ("#$ -t 1-100", "#$ -tc 40", "#$ -notify", "#$ -l h_rt=1:30:00", "#$ -pe smp 2",
                   "#$ -l h_vmem=2G", "#$ -q long.q", "#$ -v PYEXP_DB_PASSWORD", "#$ -P ml", "#$ -j y"):
        assert wanted in lines
    assert "export PYEXP_DEADLINE=$(( $(date +%s) + 5400 - 120 ))" in lines
    one = SgeScript(INPUTS, SlurmConfig(), SgeConfig(memory_resource=None)).render(
        ArrayPlan(3, 3), (TEMPLATE_DIR / "cpu.sge").read_text(), "t")
    assert "-tc" not in one and "-pe" not in one and "h_vmem" not in one  # all at once, one slot, no memory asked
    # Where the task counts its requeues (worker/requeue.py): beside its log.
    assert 'export PYEXP_REQUEUES_FILE=/home/ada/project/pyexp_logs/svm_grid/"${JOB_ID}_${SGE_TASK_ID}.requeues"' \
        in lines


def test_gpus_need_the_sites_resource_name() -> None:
    with pytest.raises(InputError, match="sge.gpu_resource"):
        SgeScript(INPUTS, SlurmConfig(gpus_per_node=1), SgeConfig()).render(ArrayPlan(1, 1), "{{resources}}", "t")


def test_times_and_memory_as_grid_engine_reads_them() -> None:
    assert [h_rt(m) for m in (1, 60, 90, 1500)] == ["0:01:00", "1:00:00", "1:30:00", "25:00:00"]
    assert [memory_per_slot(m, s) for m, s in ((4, 1), (4, 2), (3, 2), (0.25, 1))] == ["4G", "2G", "1536M", "256M"]
    assert [duration_seconds(t) for t in ("00:00:05", "1:00:00", "60", "INFINITY", None)] == [5, 3600, 60, None, None]


def test_limits_from_qconf_split_and_cap_the_arrays() -> None:
    limits = parse_limits("execd_spool_dir /var/spool\nmax_aj_instances 2000\nmax_aj_tasks 10\nmax_u_jobs 0\n")
    assert (limits.size_name, limits.max_array_size, limits.max_running_per_array) == ("max_aj_tasks", 10, 2000)
    workers, arrays, notes = plan_arrays(30, limits, parallelism=100)
    assert [a.tasks for a in arrays] == [10, 10, 10]  # Grid Engine tasks count from 1: all 10 fit
    assert "30 workers exceed max_aj_tasks 10: split into 3 arrays" in notes
    capped = parse_limits("max_aj_instances 4\nmax_aj_tasks 0\n")  # 0: no limit on the array's size
    workers, arrays, notes = plan_arrays(30, capped, parallelism=100)
    assert [(a.tasks, a.parallelism) for a in arrays] == [(30, 4)]
    assert any("max_aj_instances" in n for n in notes)
    assumed = parse_limits("nothing")
    assert assumed.source.startswith("assumed") and assumed.max_array_size == 75000


def test_queue_values_ignore_host_overrides() -> None:
    text = "qname all.q\nnotify 00:00:05,[vm=00:01:00]\nslots 8\n"
    assert queue_value(text, "notify") == "00:00:05" and queue_value(text, "missing") is None


def test_config_sections_and_the_scheduler_choice(tmp_path: Path) -> None:
    make = config_maker(tmp_path, "sqlite:///t.db")
    config = load_config(make(scheduler="sge", sge={"queue": "all.q", "options": ["-P x"], "memory_resource": "none"}))
    assert config.scheduler == "sge" and config.sge == SgeConfig(queue="all.q", memory_resource=None, options=("-P x",))
    assert template_path(config.sge, tmp_path) == TEMPLATE_DIR / "cpu.sge"
    with pytest.raises(ConfigError, match="scheduler: expected one of slurm, sge, got 'pbs'"):
        load_config(make(file="bad.yml", scheduler="pbs"))
    assert pick("sge").name == "sge" and pick("slurm").name == "slurm"
    with pytest.raises(InputError, match="--scheduler"):
        get("pbs")


def test_scheduler_detected_from_the_commands_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("qsub", "sbatch"):
        (tmp_path / name).mkdir()
    only_qsub = tmp_path / "qsub"
    (only_qsub / "qsub").write_text("#!/bin/sh\n")
    (only_qsub / "qsub").chmod(0o755)
    monkeypatch.setenv("PATH", str(only_qsub))
    assert pick(None).name == "sge"
    monkeypatch.setenv("PATH", str(tmp_path / "sbatch"))  # neither: SLURM, as before Grid Engine was known
    assert pick(None).name == "slurm"


def test_what_launch_and_cancel_print_for_grid_engine() -> None:
    from pyexperimenter.launch import CancelResult, LaunchResult
    from pyexperimenter.launch.render import cancel_text, launch_text

    result = LaunchResult(table="t", database="mysql://h/db", config_path=Path("/p/experiment.yml"), mode="sge",
                          requested=30, workers=30, arrays=[ArrayPlan(10, 4)] * 3, slurm=SlurmConfig(time_minutes=90),
                          limits=parse_limits("max_aj_tasks 10\nmax_aj_instances 2000\n"), log_dir=Path("/p/logs"),
                          job_ids=["7", "8", "9"], scheduler="sge")
    text = launch_text(result)
    assert "30 as Grid Engine array tasks" in text
    assert "arrays       3: 10 (-t 1-10 -tc 4), 10 (-t 1-10 -tc 4), 10 (-t 1-10 -tc 4); max_aj_tasks 10, " \
           "max_aj_instances 2000 (qconf -sconf)" in text
    assert "h_rt 1:30:00" in text and "/p/logs/$JOB_ID_$TASK_ID.log" in text and "cancel       qdel 7 8 9" in text
    counts = {"created": 8}
    assert "t: cancelled 1 Grid Engine job(s) (7) and 0 local worker(s)" in cancel_text(
        CancelResult("t", sge_jobs=["7"]), counts)
    assert "t: cancelled 1 SLURM job(s) (5) and 0 local worker(s)" in cancel_text(
        CancelResult("t", slurm_jobs=["5"]), counts)


def test_a_soft_limit_of_ones_own_draws_a_note_where_tasks_requeue(tmp_path: Path) -> None:
    """On a task Grid Engine runs again, s_rt strikes as h_rt (measured on the test cell), so
    a user's `-l s_rt` would end the requeued runs; the plan says so (whatever else it says
    about the cell's notify time)."""
    from dataclasses import replace

    from pyexperimenter.launch.sge import GridEngine

    base = load_config(config_maker(tmp_path, "sqlite:///t.db")(sge={"options": ["-P ml", "-l s_rt=0:50:00"]}))

    def soft(slurm: SlurmConfig, sge: SgeConfig) -> list[str]:
        return [n for n in GridEngine().notes(replace(base, sge=sge), slurm) if "s_rt" in n]

    [note] = soft(base.slurm, base.sge)
    assert note.startswith("sge.options sets s_rt: on a task it runs again Grid Engine enforces s_rt as h_rt")
    assert soft(replace(base.slurm, max_task_requeues=0), base.sge) == []  # --no-requeue: nothing runs again
    assert soft(base.slurm, SgeConfig(options=("-P ml",))) == []
