"""Submission through launch/slurm.py (and submitit) to fake SLURM commands.

Fake `sbatch`, `scontrol`, `sinfo`, `squeue` (and `srun`, which submitit looks for) come first on PATH: sbatch records its
arguments, the script it was given and whether the password reached its environment, and
prints a job id the way SLURM does. The tests assert what was submitted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.configs import config_maker

from pyexperimenter.config import ExperimentConfig, load_config
from pyexperimenter.errors import InputError
from pyexperimenter.launch import launch
from pyexperimenter.launch.slurm import cluster_limits, jobs_alive, partition_nodes
from pyexperimenter.store import Store, open_store

FAKES = {
    "sbatch": r"""#!/bin/bash
n=$(( $(ls "$FAKE_SLURM" | grep -c '^sbatch-.*\.args$') + 1 ))
printf '%s\n' "$@" > "$FAKE_SLURM/sbatch-$n.args"
for last; do :; done
cp "$last" "$FAKE_SLURM/sbatch-$n.sh"
echo "${PYEXP_DB_PASSWORD:-<unset>}" > "$FAKE_SLURM/sbatch-$n.password"
if [ -n "${FAKE_SBATCH_REFUSE:-}" ] && [ "$n" -ge "$FAKE_SBATCH_REFUSE" ]; then
    echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2
    echo "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy" >&2
    exit 1
fi
echo "Submitted batch job $(( 4200 + n ))"
""",
    "scontrol": r"""#!/bin/bash
echo "$*" >> "$FAKE_SLURM/scontrol.calls"
printf 'Configuration data as of 2026-01-01T00:00:00\nMaxArraySize            = 11\nMaxJobCount             = 25\n'
""",
    "sinfo": r"""#!/bin/bash
echo "$*" >> "$FAKE_SLURM/sinfo.calls"
case "$*" in
    *%P*) printf 'debug*\nlong\n' ;;
    *) echo node1 ;;
esac
""",
    "srun": """#!/bin/bash
echo "srun is not for tests" >&2
exit 1
""",
    "squeue": r"""#!/bin/bash
case "$*" in
    *4201*) echo 4201_3 ;;
esac
""",
}


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of fake SLURM commands first on PATH; returns where they record their calls."""
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for name, text in FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(record))
    monkeypatch.delenv("PYEXP_DB_PASSWORD", raising=False)
    return record


def filled(tmp_path: Path, url: str, rows: int) -> tuple[ExperimentConfig, Store]:
    """The config the launch reads (its database URL goes into the script) and a filled
    table: in SQLite in tmp_path, whatever the URL, since no worker ever connects here."""
    sections = {"experiment": {"function": "experiments:noop"}, "parameters": {"x": {"start": 0, "stop": rows}},
                "slurm": {"partition": "debug"}}
    config = load_config(config_maker(tmp_path, url)(**sections))
    table = load_config(config_maker(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}")(file="table.yml", **sections))
    store = open_store(table, create=True)
    store.create()
    store.insert_missing({"x": x} for x in range(rows))
    return config, store


def submitted(record: Path, n: int) -> tuple[list[str], str, str]:
    """The arguments, script and password sbatch saw on its n-th call."""
    return ((record / f"sbatch-{n}.args").read_text().splitlines(), (record / f"sbatch-{n}.sh").read_text(),
            (record / f"sbatch-{n}.password").read_text().strip())


def test_the_cluster_is_asked_through_its_commands(fake_slurm: Path) -> None:
    limits = cluster_limits()
    assert (limits.max_array_size, limits.max_job_count, limits.source) == (11, 25, "scontrol show config")
    assert (fake_slurm / "scontrol.calls").read_text() == "show config\n"
    assert partition_nodes(None) == {"node1"}
    assert (fake_slurm / "sinfo.calls").read_text().splitlines() == ["-h -o %P", "-h -N -p debug -o %N"]
    assert jobs_alive(["4201"]) and not jobs_alive(["4299"]) and not jobs_alive([])


def test_arrays_are_submitted_with_the_rendered_scripts(fake_slurm: Path, tmp_path: Path) -> None:
    config, store = filled(tmp_path, "mysql://ada:s3cret-Pw@db.cluster:3306/exps", rows=40)
    result = launch(config, store, workers=30, sbatch={"mail-type": "FAIL"})
    # MaxJobCount 25 caps the workers; MaxArraySize 11 allows 10 tasks per array.
    assert result.mode == "slurm" and result.workers == 25
    assert [a.spec for a in result.arrays] == ["0-9", "0-9", "0-4"]
    assert result.job_ids == ["4201", "4202", "4203"] and not result.errors and not result.failed
    for n, (array, script) in enumerate(zip(result.arrays, result.scripts), start=1):
        args, text, password = submitted(fake_slurm, n)
        assert len(args) == 1 and Path(args[0]).parent == result.log_dir
        assert text == script  # byte for byte what --dry-run prints
        assert f"#SBATCH --array={array.spec}\n" in text
        assert "#SBATCH --partition=debug\n" in text and "#SBATCH --mail-type=FAIL\n" in text
        assert "--db mysql://ada@db.cluster:3306/exps" in text and "s3cret" not in text
        assert password == "s3cret-Pw"  # in sbatch's environment only
    assert "PYEXP_DB_PASSWORD" not in os.environ
    assert result.log_dir is not None
    kept = sorted(p.name for p in result.log_dir.iterdir())
    assert kept == ["4201_submission.sh", "4202_submission.sh", "4203_submission.sh", "snapshots"]
    (taken,) = (result.log_dir / "snapshots").iterdir()  # the code the workers import, named by its hash
    assert all(f"--snapshot {taken}" in script for script in result.scripts)


def test_a_refused_first_array_is_bad_input_and_a_later_one_an_error(fake_slurm: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = filled(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}", rows=40)
    monkeypatch.setenv("FAKE_SBATCH_REFUSE", "1")
    with pytest.raises(InputError, match=r"sbatch refused array 1 of 3 \(10 tasks\): .*QOSMaxSubmitJobPerUserLimit"):
        launch(config, store, workers=25)
    for name in os.listdir(fake_slurm):
        if name.startswith("sbatch-"):
            os.unlink(fake_slurm / name)
    monkeypatch.setenv("FAKE_SBATCH_REFUSE", "2")
    result = launch(config, store, workers=25)
    assert result.job_ids == ["4201"] and result.failed
    assert len(result.errors) == 1 and result.errors[0].startswith("sbatch refused array 2 of 3 (10 tasks): ")
    assert submitted(fake_slurm, 1)[2] == "<unset>"  # SQLite: no password to pass on
    assert "SQLite: all workers run on node1, the only node of partition debug" in result.notes


def test_no_sbatch_on_path_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = filled(tmp_path, f"sqlite:///{tmp_path / 'experiments.db'}", rows=3)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="sbatch not found"):
        launch(config, store, workers=2)
