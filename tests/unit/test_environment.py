"""The batch job a worker runs in, read off its environment: SLURM or Grid Engine."""

from __future__ import annotations

from pyexperimenter.environment import SchedulerTask, scheduler_task


def test_outside_a_scheduler_nothing_is_named() -> None:
    assert scheduler_task({}) == SchedulerTask()
    assert scheduler_task({"JOB_ID": "12"}) == SchedulerTask()  # JOB_ID alone is too common a name


def test_slurm_array_task() -> None:
    task = scheduler_task({"SLURM_JOB_ID": "81240", "SLURM_ARRAY_JOB_ID": "81234", "SLURM_ARRAY_TASK_ID": "6"})
    assert task == SchedulerTask("slurm", "81240", "81234", "6")
    assert (task.name, task.task_number) == ("81234_6", 6)


def test_grid_engine_job_and_array_task() -> None:
    job = scheduler_task({"JOB_ID": "4242", "SGE_TASK_ID": "undefined", "SGE_ROOT": "/opt/sge"})
    assert job == SchedulerTask("sge", "4242") and job.name == "4242" and job.task_number is None
    task = scheduler_task({"JOB_ID": "4242", "SGE_TASK_ID": "7"})
    assert task == SchedulerTask("sge", "4242.7", "4242", "7")
    assert (task.name, task.task_number) == ("4242_7", 7)
