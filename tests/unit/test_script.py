"""launch/script.py: the sbatch script as rendered from the cpu and gpu templates.

The rendered scripts are compared with recorded files in tests/data/; after a deliberate
template change, rewrite them with PYEXP_RECORD=1 and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.paths import DATA

from pyexperimenter.config import SlurmConfig
from pyexperimenter.errors import InputError
from pyexperimenter.launch import TEMPLATE_DIR, ArrayPlan, ScriptValues, effective_signal_seconds, render_template


def test_signal_lead_is_at_most_a_third_of_the_time_limit() -> None:
    assert effective_signal_seconds(SlurmConfig(time_minutes=60, signal_seconds=120)) == 120
    assert effective_signal_seconds(SlurmConfig(time_minutes=1, signal_seconds=120)) == 20


def test_render_drops_lines_of_empty_placeholders_and_rejects_unknown_ones() -> None:
    assert render_template("a\n{{x}}\nb {{y}}\n", {"x": "", "y": 1}) == "a\nb 1\n"
    with pytest.raises(InputError, match=r"unknown placeholder \{\{z\}\}"):
        render_template("{{z}}", {"x": 1})


def _values(**slurm: object) -> ScriptValues:
    return ScriptValues(
        table="svm_grid",
        slurm=SlurmConfig(**slurm),  # type: ignore[arg-type]
        python="/opt/venv/bin/python",
        workdir=Path("/home/ada/project"),
        log_dir=Path("/home/ada/project/pyexp_logs/svm_grid"),
        worker_args=["--config", "/home/ada/project/experiment.yml", "--db", "mysql://ada@db.cluster:3306/exps",
                     "--function", "experiments.svm:run"],
        environment=["export PYTHONPATH=/home/ada/lib${PYTHONPATH:+:$PYTHONPATH}"],
    )


CASES = {
    "launch_cpu.sbatch": (
        dict(partition="cpu", time_minutes=90, mem_gb=4, cpus_per_task=2, array_parallelism=40, account="ml",
             setup=("module load python/3.11", "source /home/ada/venv/bin/activate"),
             sbatch=(("mail-type", "FAIL"), ("exclusive", ""))),
        ArrayPlan(100, 40),
        "cpu.sbatch",
    ),
    "launch_gpu.sbatch": (
        dict(partition="gpu", time_minutes=240, mem_gb=15.5, cpus_per_task=8, gpus_per_node=1, qos="long",
             constraint="a100", signal_seconds=300),
        ArrayPlan(16, 16),
        "gpu.sbatch",
    ),
}


@pytest.mark.parametrize("recorded", sorted(CASES))
def test_rendered_script_matches_recorded_file(recorded: str) -> None:
    slurm, array, template = CASES[recorded]
    text = _values(**slurm).render(array, (TEMPLATE_DIR / template).read_text(), template)
    path = DATA / recorded
    if os.environ.get("PYEXP_RECORD") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_recorded_scripts_are_valid_bash() -> None:
    for name in CASES:
        subprocess.run(["bash", "-n", str(DATA / name)], check=True)
