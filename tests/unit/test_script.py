"""launch/script.py: the sbatch script as rendered from the cpu and gpu templates.

The rendered scripts are compared with recorded files in tests/data/; after a deliberate
template change, rewrite them with PYEXP_RECORD=1 and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.configs import config_maker
from support.paths import DATA

from pyexperimenter.config import SlurmConfig, load_config
from pyexperimenter.errors import InputError
from pyexperimenter.launch import (
    TEMPLATE_DIR,
    ArrayPlan,
    ScriptValues,
    effective_signal_seconds,
    parse_sbatch_options,
    render_template,
)
from pyexperimenter.launch.script import mem_text, read_template, template_path, worker_args, worker_environment


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


# ----------------------------------------------------------------------------- what the script holds


def test_gpus_pick_the_gpu_template_and_a_site_template_is_relative_to_the_config(tmp_path: Path) -> None:
    assert template_path(SlurmConfig(), tmp_path) == TEMPLATE_DIR / "cpu.sbatch"
    assert template_path(SlurmConfig(gpus_per_node=2), tmp_path) == TEMPLATE_DIR / "gpu.sbatch"
    assert template_path(SlurmConfig(template="site/my.sbatch"), tmp_path) == tmp_path / "site" / "my.sbatch"
    gpu = _values(gpus_per_node=2).render(ArrayPlan(4, 4), read_template(TEMPLATE_DIR / "gpu.sbatch"), "gpu")
    cpu = _values().render(ArrayPlan(4, 4), read_template(TEMPLATE_DIR / "cpu.sbatch"), "cpu")
    assert "#SBATCH --gpus-per-node=2" in gpu and "--gpus-per-node" not in cpu
    with pytest.raises(InputError, match="slurm.template: cannot read"):
        read_template(tmp_path / "missing.sbatch")


@pytest.mark.parametrize("minutes,lead,expected", [(60, 120, 120), (240, 300, 300), (1, 120, 20), (3, 30, 30)])
def test_usr2_signal_and_deadline_use_the_same_lead(minutes: int, lead: int, expected: int) -> None:
    text = _values(time_minutes=minutes, signal_seconds=lead).render(
        ArrayPlan(2, 2), (TEMPLATE_DIR / "cpu.sbatch").read_text(), "cpu")
    assert f"#SBATCH --signal=B:USR2@{expected}\n" in text
    assert f"#SBATCH --time={minutes}\n" in text
    deadline = [line for line in text.splitlines() if line.startswith("export PYEXP_DEADLINE=")]
    assert deadline == [f"export PYEXP_DEADLINE=$(( ${{SLURM_JOB_END_TIME:-$(( $(date +%s) + {minutes * 60} ))}} "
                        f"- {expected} ))"]


def test_extra_sbatch_options_come_last_and_are_quoted() -> None:
    extra = parse_sbatch_options(["exclusive", "--mail-type=FAIL", "comment=a b; rm -rf /", "nodelist = n1 "])
    assert extra == {"exclusive": "", "mail-type": "FAIL", "comment": "a b; rm -rf /", "nodelist": "n1"}
    with pytest.raises(InputError, match="--sbatch: expected KEY=VALUE, got '=x'"):
        parse_sbatch_options(["=x"])
    text = _values(partition="cpu", sbatch=tuple(extra.items())).render(
        ArrayPlan(3, 1), (TEMPLATE_DIR / "cpu.sbatch").read_text(), "cpu")
    lines = text.splitlines()
    assert "#SBATCH --array=0-2%1" in lines
    wanted = ["#SBATCH --partition=cpu", "#SBATCH --exclusive", "#SBATCH --mail-type=FAIL",
              "#SBATCH --comment='a b; rm -rf /'", "#SBATCH --nodelist=n1"]
    start = lines.index(wanted[0])
    assert lines[start:start + len(wanted)] == wanted
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_memory_is_whole_gigabytes_or_megabytes() -> None:
    assert [mem_text(m) for m in (4, 4.0, 15.5, 0.0001)] == ["4G", "4G", "15872M", "1M"]


def test_the_password_stays_out_of_the_script(tmp_path: Path) -> None:
    """The workers get the URL without its password; the password travels in their
    environment (PYEXP_DB_PASSWORD), which sbatch passes on."""
    path = config_maker(tmp_path, "mysql://ada:s3cret-Pw@db.cluster:3306/exps")(experiment={"function": "m:f"})
    config = load_config(path)
    assert config.database.password == "s3cret-Pw"
    args = worker_args(config, "m:f")
    assert args == ["--config", str(path), "--db", "mysql://ada@db.cluster:3306/exps", "--function", "m:f"]
    assert worker_environment(config.database) == {"PYEXP_DB_PASSWORD": "s3cret-Pw"}
    values = ScriptValues(table="exp", slurm=config.slurm, python="python3", workdir=tmp_path,
                          log_dir=tmp_path / "logs", worker_args=args)
    for template in ("cpu.sbatch", "gpu.sbatch"):
        text = values.render(ArrayPlan(2, 2), (TEMPLATE_DIR / template).read_text(), template)
        assert "s3cret" not in text
        assert "-m pyexperimenter.worker --config" in text and "--db mysql://ada@db.cluster:3306/exps" in text
    sqlite = config_maker(tmp_path, "sqlite:///t.db")(file="lite.yml")
    assert worker_environment(load_config(sqlite).database) == {}
