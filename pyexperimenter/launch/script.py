"""The sbatch script every worker of a launch runs, rendered from a template.

Its last line starts the worker (`python -m pyexperimenter.worker --config ... --db ...
[--ssh-file ... --ssh-format ...] --function ...`); nothing is pickled, so the text printed by `--dry-run` is byte for byte
what is submitted, and a site that must submit by hand can `sbatch` it. The default
templates are package data (`pyexperimenter.slurm_templates`, the repository's top-level
slurm_templates/ folder), read through importlib.resources so a wheel finds them too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import urlencode

from ..config import DatabaseConfig, ExperimentConfig, SlurmConfig
from ..errors import InputError
from .plan import ArrayPlan

TEMPLATE_DIR: Traversable = files("pyexperimenter.slurm_templates")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_template(text: str, values: Mapping[str, object], where: str = "template") -> str:
    """Replace `{{name}}` placeholders. A line holding nothing but a placeholder whose value is
    empty disappears, so optional blocks (extra #SBATCH options, setup lines) leave no gaps."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if unknown:
        raise InputError(f"{where}: unknown placeholder {{{{{unknown[0]}}}}}; known: {', '.join(sorted(values))}")
    lines = []
    for line in text.splitlines():
        alone = _PLACEHOLDER.fullmatch(line.strip())
        if alone and str(values[alone.group(1)]) == "":
            continue
        lines.append(_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), line))
    return "\n".join(lines) + "\n"


def template_path(slurm: SlurmConfig, base_dir: Path) -> Traversable:
    """The site's own template (`slurm.template`, relative to the config's folder), or ours."""
    if slurm.template:
        path = Path(slurm.template).expanduser()
        return path if path.is_absolute() else base_dir / path
    return TEMPLATE_DIR / ("gpu.sbatch" if slurm.gpus_per_node > 0 else "cpu.sbatch")


def read_template(template: Traversable) -> str:
    try:
        return template.read_text()
    except OSError as e:
        raise InputError(f"slurm.template: cannot read {template}: {e.strerror}") from None


def mem_text(mem_gb: float) -> str:
    """`--mem` as SLURM reads it: whole gigabytes as G, anything else in megabytes."""
    return f"{int(mem_gb)}G" if float(mem_gb).is_integer() else f"{max(1, round(mem_gb * 1024))}M"


def _sbatch_flag(key: str, value: str) -> str:
    key = key.strip().lstrip("-").replace("_", "-")
    return f"#SBATCH --{key}" if value == "" else f"#SBATCH --{key}={shlex.quote(value)}"


def effective_signal_seconds(slurm: SlurmConfig) -> int:
    """USR2 lead time: the configured one, but at most a third of the time limit. SLURM may
    send the signal up to 60 s before the requested moment; a 1-minute job asked to be
    signalled 120 s (or even 30 s) before its end could get it before it has started."""
    return max(1, min(slurm.signal_seconds, slurm.time_minutes * 60 // 3))


@dataclass(frozen=True)
class ScriptValues:
    """Everything a rendered script depends on besides the array itself."""

    table: str
    slurm: SlurmConfig
    python: str
    workdir: Path
    log_dir: Path
    worker_args: Sequence[str]
    environment: Sequence[str] = ()

    def render(self, array: ArrayPlan, template: str, where: str) -> str:
        s = self.slurm
        options = []
        for key, value in (("partition", s.partition), ("account", s.account), ("qos", s.qos),
                           ("constraint", s.constraint)):
            if value:
                options.append(_sbatch_flag(key, value))
        options += [_sbatch_flag(k, v) for k, v in s.sbatch]  # last: they win over the lines above
        setup = ["# setup (slurm.setup)", *s.setup] if s.setup else []
        values = {
            "table": self.table,
            "tasks": array.tasks,
            "job_name": shlex.quote(f"pyexp-{self.table}"),
            "array": array.spec,
            "cpus_per_task": s.cpus_per_task,
            "gpus_per_node": s.gpus_per_node,
            "mem": mem_text(s.mem_gb),
            "time_minutes": s.time_minutes,
            "time_seconds": s.time_minutes * 60,
            "signal_seconds": effective_signal_seconds(s),
            "workdir": shlex.quote(str(self.workdir)),
            "log_dir": shlex.quote(str(self.log_dir)),
            "sbatch_options": "\n".join(options),
            "setup": "\n".join(setup),
            "environment": "\n".join(self.environment),
            "python": self.python,
            "worker_args": " ".join(shlex.quote(a) for a in self.worker_args),
        }
        return render_template(template, values, where)


def stop_grace_seconds(config: ExperimentConfig, slurm: SlurmConfig) -> int:
    """The grace period the workers give a stopped experiment: `experiment.stop_grace_seconds`,
    but short enough to end within the signal's lead time (10 s of it kept for handing the
    row back), since the lead is at most a third of the time limit."""
    return max(1, min(int(config.stop_grace_seconds), effective_signal_seconds(slurm) - 10))


def long_run_lines(config: ExperimentConfig, slurm: SlurmConfig) -> list[str]:
    """The script lines of docs/long-runs.md: the grace period that fits the signal's lead
    time, and how often a worker whose time ran out with rows still open requeues its task."""
    return [f"export PYEXP_STOP_GRACE={stop_grace_seconds(config, slurm)}",
            f"export PYEXP_TASK_REQUEUES={int(slurm.max_task_requeues)}"]


def pythonpath_line(extra_path: Path | None) -> list[str]:
    """The script line that makes an experiment module outside the usual places importable."""
    if extra_path is None:
        return []
    return [f"export PYTHONPATH={shlex.quote(str(extra_path))}${{PYTHONPATH:+:$PYTHONPATH}}"]


def node_database_url(db: DatabaseConfig) -> str:
    """The URL the workers connect with: never the password (that travels in the environment)."""
    url = db.url
    if db.kind == "mysql":
        query = {k: v for k, v in (("unix_socket", db.unix_socket), ("read_default_file", db.read_default_file)) if v}
        if query:
            url += "?" + urlencode(query)
    return url


def worker_args(config: ExperimentConfig, spec: str) -> list[str]:
    """The arguments of `python -m pyexperimenter.worker`, the same for every worker."""
    assert config.path is not None
    where = [arg for text in config.where for arg in ("--where", text)]
    return ["--config", str(config.path), "--db", node_database_url(config.database),
            *gateway_args(config.database), "--function", spec, *where]


def gateway_args(db: DatabaseConfig) -> list[str]:
    """A URL cannot carry an SSH gateway: the workers read it again from the file this
    process read it from (a passphrase stays out of the script, in the environment)."""
    ssh = db.ssh
    if ssh is None:
        return []
    if ssh.file is None:
        raise InputError(f"{ssh.source}: launched workers cannot find this SSH gateway: it was not read from a file")
    return ["--ssh-file", ssh.file, "--ssh-format", "pyexperimenter" if ssh.legacy else "native"]


def worker_environment(db: DatabaseConfig) -> dict[str, str]:
    """Variables the workers need beyond the script: the passwords, which the script never holds."""
    env = {"PYEXP_DB_PASSWORD": db.password} if db.password is not None else {}
    if db.ssh is not None and db.ssh.key_password is not None:
        env["PYEXP_SSH_KEY_PASSWORD"] = db.ssh.key_password
    return env
