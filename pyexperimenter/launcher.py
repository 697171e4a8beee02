"""`pyexp launch`: N identical workers as SLURM array jobs (through submitit), or locally.

The design in one paragraph: every worker runs the same shell script, rendered from a
template in `slurm_templates/`; its last line is `python -m pyexperimenter.launcher worker
--config ... --db ... --function ...`, the small entry point at the bottom of this module.
submitit does the submission (its SlurmExecutor writes the script, calls sbatch, parses the
job id); we only give it our script instead of its pickle-based one. So the script printed by
`--dry-run` is byte for byte what is submitted, and a site that must submit by hand can
`sbatch` it. Nothing is pickled: the table is the only channel between the launcher and the
workers, and the only source of truth afterwards (no sacct).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .config import DatabaseConfig, ExperimentConfig, SlurmConfig, load_config
from .errors import InputError, PyexpError

if TYPE_CHECKING:
    from .experiment import Experimenter

log = logging.getLogger("pyexperimenter")

# Inside the package, so that a wheel install has them too.
TEMPLATE_DIR = Path(__file__).resolve().parent / "slurm_templates"
DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's default when `scontrol show config` cannot be read
SLURM_TIMEOUT = 30.0  # seconds for one scontrol/sinfo/squeue call
_OVERRIDES = {
    "partition",
    "time_minutes",
    "mem_gb",
    "cpus_per_task",
    "gpus_per_node",
    "array_parallelism",
    "setup",
    "account",
    "qos",
    "constraint",
    "sbatch",
    "signal_seconds",
    "python",
    "log_dir",
    "template",
}


# ----------------------------------------------------------------------------- plan pieces


@dataclass(frozen=True)
class ArrayPlan:
    """One array job: `tasks` workers, at most `parallelism` of them running at once."""

    tasks: int
    parallelism: int

    @property
    def spec(self) -> str:
        """The value of `sbatch --array`."""
        spec = f"0-{self.tasks - 1}"
        return spec if self.parallelism >= self.tasks else f"{spec}%{self.parallelism}"


def split_arrays(workers: int, max_array_size: int, parallelism: int) -> list[ArrayPlan]:
    """Split `workers` tasks into arrays the cluster accepts.

    MaxArraySize M allows task ids 0..M-1; to stay clear of off-by-one readings of that limit
    (and of sites that subtract one), an array holds at most M-1 tasks. `parallelism` bounds
    the workers running at once over all arrays: it is shared out in proportion to size.
    """
    if workers < 1:
        return []
    per_array = max(1, max_array_size - 1)
    sizes = [per_array] * (workers // per_array)
    if workers % per_array:
        sizes.append(workers % per_array)
    if parallelism >= workers:
        return [ArrayPlan(s, s) for s in sizes]
    # Largest-remainder share of `parallelism`, at least one per array.
    exact = [parallelism * s / workers for s in sizes]
    shares = [max(1, int(e)) for e in exact]
    spare = parallelism - sum(shares)
    for i in sorted(range(len(sizes)), key=lambda i: exact[i] - int(exact[i]), reverse=True):
        if spare <= 0:
            break
        if shares[i] < sizes[i]:
            shares[i] += 1
            spare -= 1
    return [ArrayPlan(s, min(s, p)) for s, p in zip(sizes, shares)]


@dataclass(frozen=True)
class ClusterLimits:
    max_array_size: int
    max_job_count: int | None
    source: str  # where the numbers came from, for the plan


def cluster_limits(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> ClusterLimits:
    """MaxArraySize and MaxJobCount from `scontrol show config`; SLURM's defaults if unreadable."""
    try:
        out = run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=SLURM_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        return ClusterLimits(DEFAULT_MAX_ARRAY_SIZE, None, f"assumed (scontrol: {e})")
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()[:1] or ["no output"]
        return ClusterLimits(DEFAULT_MAX_ARRAY_SIZE, None, f"assumed (scontrol: {why[0]})")
    return parse_cluster_limits(out.stdout)


def parse_cluster_limits(text: str) -> ClusterLimits:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()

    def number(key: str) -> int | None:
        match = re.match(r"\d+", values.get(key, ""))
        return int(match.group()) if match else None

    size = number("MaxArraySize")
    return ClusterLimits(
        max_array_size=size if size is not None else DEFAULT_MAX_ARRAY_SIZE,
        max_job_count=number("MaxJobCount"),
        source="scontrol show config" if size is not None else "assumed (no MaxArraySize in scontrol show config)",
    )


def partition_nodes(partition: str | None) -> set[str] | None:
    """The nodes jobs of `partition` (default: the default partition) may land on; None if unknown."""

    def sinfo(*args: str) -> list[str] | None:
        try:
            out = subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=SLURM_TIMEOUT)
        except (OSError, subprocess.SubprocessError):
            return None
        return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else None

    if partition is None:
        names = sinfo("-o", "%P")
        if names is None:
            return None
        defaults = [n.rstrip("*") for n in names if n.endswith("*")]
        if not defaults:
            return None
        partition = defaults[0]
    nodes = sinfo("-N", "-p", partition, "-o", "%N")
    return set(nodes) if nodes is not None else None


# ----------------------------------------------------------------------------- templates

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


def template_path(slurm: SlurmConfig, base_dir: Path) -> Path:
    if slurm.template:
        path = Path(slurm.template).expanduser()
        return path if path.is_absolute() else base_dir / path
    return TEMPLATE_DIR / ("gpu.sbatch" if slurm.gpus_per_node > 0 else "cpu.sbatch")


def _mem(mem_gb: float) -> str:
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
            "mem": _mem(s.mem_gb),
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


# ----------------------------------------------------------------------------- the result


@dataclass
class LaunchResult:
    """What `launch` did (or would do); `render()` is what `pyexp launch` prints."""

    table: str
    database: str
    config_path: Path | None
    mode: str  # "slurm", "dry-run", "local" or "nothing"
    open_rows: int = 0
    requested: int = 0
    workers: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    arrays: list[ArrayPlan] = field(default_factory=list)
    limits: ClusterLimits | None = None
    slurm: SlurmConfig | None = None
    log_dir: Path | None = None
    template: Path | None = None
    scripts: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(code != 0 for code in self.exit_codes)

    # --- progress of submitted jobs
    def jobs_alive(self) -> bool:
        """True while any task of the submitted arrays is pending or running (squeue)."""
        if not self.job_ids:
            return False
        try:
            out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(self.job_ids)],
                                 capture_output=True, text=True, timeout=SLURM_TIMEOUT)
        except (OSError, subprocess.SubprocessError):
            return True  # cannot tell: assume alive rather than stop watching early
        if out.returncode != 0:
            return "invalid job id" not in (out.stderr + out.stdout).lower()
        return bool(out.stdout.strip())

    def wait(self, exp: Experimenter, interval: float = 2.0,
             on_progress: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
        """Poll the table until nothing is open or running, or no submitted job is left."""
        last_squeue = time.monotonic()
        while True:
            counts = exp.counts()
            if on_progress is not None:
                on_progress(counts)
            if counts["created"] + counts["running"] == 0 or not self.job_ids:
                return counts
            if time.monotonic() - last_squeue >= max(10.0, interval):
                last_squeue = time.monotonic()
                if not self.jobs_alive():
                    counts = exp.counts()
                    if counts["created"] + counts["running"]:
                        self.notes.append(
                            f"all workers ended with {counts['created']} open and {counts['running']} running row(s) "
                            "left; launch again to finish them"
                        )
                    return counts
            time.sleep(interval)

    # --- text
    def watch_command(self) -> str:
        cfg = shlex.quote(str(self.config_path)) if self.config_path else "CONFIG"
        return f"pyexp status {cfg} --watch 5"

    def render(self) -> str:
        lines = [f"pyexp launch: table {self.table} on {self.database}"]
        c = self.counts
        if c:
            lines.append(
                f"  open rows    {self.open_rows} (created {c.get('created', 0)}, lost {c.get('stale', 0)}; "
                f"running {c.get('running', 0)}, done {c.get('done', 0)}, error {c.get('error', 0)})"
            )
        if self.mode == "nothing":
            lines += [f"  note: {n}" for n in self.notes]
            return "\n".join(lines)
        capped = f" (asked for {self.requested})" if self.requested != self.workers else ""
        where = "local processes" if self.mode == "local" else "SLURM array tasks"
        lines.append(f"  workers      {self.workers}{capped} as {where}")
        if self.mode != "local" and self.arrays:
            limits = self.limits
            limit_text = ""
            if limits is not None:
                limit_text = f"; MaxArraySize {limits.max_array_size}"
                if limits.max_job_count is not None:
                    limit_text += f", MaxJobCount {limits.max_job_count}"
                limit_text += f" ({limits.source})"
            sizes = ", ".join(f"{a.tasks} (--array={a.spec})" for a in self.arrays)
            lines.append(f"  arrays       {len(self.arrays)}: {sizes}{limit_text}")
        if self.slurm is not None and self.mode != "local":
            s = self.slurm
            parts = [
                f"partition {s.partition or '(default)'}",
                f"{s.cpus_per_task} CPU",
                f"{_mem(s.mem_gb)} memory",
                f"{s.gpus_per_node} GPU" if s.gpus_per_node else "no GPU",
                f"{s.time_minutes} min",
                f"USR2 {effective_signal_seconds(s)} s before the limit",
            ]
            parts += [f"{k} {v}" for k, v in (("account", s.account), ("qos", s.qos), ("constraint", s.constraint)) if v]
            parts += [f"--{k}{'=' + v if v else ''}" for k, v in s.sbatch]
            lines.append(f"  resources    {', '.join(parts)}")
            if s.setup:
                lines.append(f"  setup        {' ; '.join(s.setup)}")
        if self.template is not None and self.mode != "local":
            lines.append(f"  template     {self.template}")
        if self.log_dir is not None:
            pattern = "%A_%a.log (array job id _ task id)" if self.mode != "local" else "local-*.log"
            lines.append(f"  logs         {self.log_dir}/{pattern}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.mode == "dry-run":
            for i, (array, script) in enumerate(zip(self.arrays, self.scripts), 1):
                lines += ["", f"# ---- sbatch script {i} of {len(self.scripts)} ({array.tasks} tasks) ----",
                          script.rstrip("\n")]
            lines += ["", "dry run: nothing was submitted"]
        elif self.mode == "slurm":
            if self.job_ids:
                ids = ", ".join(f"{j} ({a.tasks} tasks)" for j, a in zip(self.job_ids, self.arrays))
                lines.append(f"submitted    array job(s) {ids}")
                lines.append(f"watch        {self.watch_command()}")
                lines.append(f"             squeue -j {','.join(self.job_ids)}")
                lines.append(f"cancel       scancel {' '.join(self.job_ids)}")
        elif self.mode == "local":
            bad = [code for code in self.exit_codes if code != 0]
            lines.append(
                f"ran          {len(self.exit_codes)} local worker(s) in {self.seconds:.1f} s"
                + (f"; {len(bad)} exited abnormally (exit codes {sorted(set(bad))})" if bad else "")
            )
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- launching


def launch(
    exp: Experimenter,
    function: str | Callable[..., Any] | None = None,
    workers: int = 200,
    dry_run: bool = False,
    local: bool = False,
    wait: bool = False,
    **overrides: Any,
) -> LaunchResult:
    """Check everything the nodes would trip over, then submit (or print, or run locally)."""
    if workers < 1:
        raise InputError(f"--workers: expected a positive number, got {workers}")
    if dry_run and local:
        raise InputError("--dry-run and --local exclude each other")
    config = exp.config
    if config.path is None:
        raise InputError("launch needs the experiment's config file: the workers read it on the nodes")
    slurm = resolve_slurm(config, overrides)

    spec = function_spec(config, function)
    extra_path = _import_check(spec, config.base_dir)  # 1. the experiment function imports

    counts = exp.counts()  # 2. the database is reachable, 3. the table exists (InputError otherwise)
    open_rows = counts["created"] + counts.get("stale", 0)
    result = LaunchResult(
        table=config.name,
        database=config.database.url,
        config_path=config.path,
        mode="dry-run" if dry_run else "local" if local else "slurm",
        open_rows=open_rows,
        requested=workers,
        counts=dict(counts),
        slurm=slurm,
        log_dir=log_dir(config, slurm),
    )
    if open_rows == 0:
        result.mode = "nothing"
        result.notes.append("no open rows: nothing to launch (`pyexp reset CONFIG --status error` requeues failed ones)")
        return result
    result.workers = min(workers, open_rows)
    if result.workers < workers:
        result.notes.append(f"capped at {result.workers} worker(s): only {open_rows} open row(s); more would idle")

    env = _worker_environment(config.database)
    node_args = worker_args(config, spec)
    if local:
        return _run_local(result, node_args, env, extra_path)

    if not dry_run and not _have("sbatch"):
        raise InputError("sbatch not found: this machine cannot submit to SLURM; use --local, or --dry-run to print the script")
    _check_nodes(config, slurm, result)  # SQLite on several nodes, localhost databases
    limits = cluster_limits()
    result.limits = limits
    if limits.source.startswith("assumed"):
        result.notes.append(f"could not read the cluster's limits: MaxArraySize {limits.max_array_size} {limits.source}")
    if limits.max_job_count is not None and result.workers > limits.max_job_count:
        result.notes.append(f"capped at MaxJobCount {limits.max_job_count} worker(s)")
        result.workers = limits.max_job_count
    result.arrays = split_arrays(result.workers, limits.max_array_size, slurm.array_parallelism)
    if len(result.arrays) > 1:
        result.notes.append(
            f"{result.workers} workers exceed MaxArraySize {limits.max_array_size}: split into {len(result.arrays)} arrays"
            + (f"; array_parallelism {slurm.array_parallelism} shared among them" if slurm.array_parallelism < result.workers else "")
        )
    tpl = template_path(slurm, config.base_dir)
    result.template = tpl
    try:
        template_text = tpl.read_text()
    except OSError as e:
        raise InputError(f"slurm.template: cannot read {tpl}: {e.strerror}") from None
    values = ScriptValues(
        table=config.name,
        slurm=slurm,
        python=slurm.python or shlex.quote(sys.executable),
        workdir=Path.cwd(),
        log_dir=result.log_dir or Path.cwd(),
        worker_args=node_args,
        environment=[f"export PYTHONPATH={shlex.quote(str(extra_path))}${{PYTHONPATH:+:$PYTHONPATH}}"] if extra_path else [],
    )
    result.scripts = [values.render(array, template_text, str(tpl)) for array in result.arrays]
    if config.database.password is not None:
        result.notes.append(
            "the database password is not in the script; it reaches the jobs as PYEXP_DB_PASSWORD in their environment"
            + (" (export it before submitting this script by hand)" if dry_run else "")
        )
    if dry_run:
        return result

    assert result.log_dir is not None
    result.log_dir.mkdir(parents=True, exist_ok=True)
    with _environment(env):
        for array, script in zip(result.arrays, result.scripts):
            try:
                result.job_ids.append(submit_script(script, result.log_dir))
            except Exception as e:  # noqa: BLE001 - sbatch's own message is the useful part
                why = "; ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
                message = f"sbatch refused array {len(result.job_ids) + 1} of {len(result.arrays)} " \
                          f"({array.tasks} tasks): {why or type(e).__name__}"
                if not result.job_ids:  # nothing submitted: a bad partition, account, limit...
                    raise InputError(message) from None
                result.errors.append(message)  # some arrays are running: show them, exit 1
                break
    if wait and result.job_ids:
        result.counts = result.wait(exp)
    return result


def resolve_slurm(config: ExperimentConfig, overrides: Mapping[str, Any]) -> SlurmConfig:
    """The config's `slurm:` section with CLI/API overrides applied; `sbatch` extras merge."""
    unknown = sorted(set(overrides) - _OVERRIDES)
    if unknown:
        raise InputError(f"launch: unknown option {unknown[0]!r}; expected one of {', '.join(sorted(_OVERRIDES))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    slurm = config.slurm
    if "sbatch" in given:
        extra = given.pop("sbatch")
        items = extra.items() if isinstance(extra, Mapping) else extra
        merged = dict(slurm.sbatch)
        merged.update({str(k).strip().lstrip("-"): str(v) for k, v in items})
        given["sbatch"] = tuple(merged.items())
    if "setup" in given:
        given["setup"] = tuple(given["setup"]) if not isinstance(given["setup"], str) else (given["setup"],)
    slurm = replace(slurm, **given)
    for key in ("time_minutes", "cpus_per_task", "array_parallelism", "signal_seconds"):
        value = getattr(slurm, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"slurm.{key}: expected a positive integer, got {value!r}")
    if slurm.mem_gb <= 0:
        raise InputError(f"slurm.mem_gb: expected a positive number, got {slurm.mem_gb!r}")
    if slurm.gpus_per_node < 0:
        raise InputError(f"slurm.gpus_per_node: expected 0 or more, got {slurm.gpus_per_node!r}")
    return slurm


def function_spec(config: ExperimentConfig, function: str | Callable[..., Any] | None) -> str:
    """`module:function` the nodes import; a callable is accepted if it is importable."""
    if function is None:
        if not config.function:
            raise InputError(f"{config.path}: experiment.function: no experiment function given (or pass --function MODULE:FN)")
        return config.function
    if callable(function):
        module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
        if not module or module == "__main__" or "<" in qualname:
            raise InputError(
                f"launch: the function {qualname or function!r} is not importable by the workers (defined in "
                "__main__ or inside another function); move it into a module, or use Experimenter.execute(fn, n_jobs=N)"
            )
        return f"{module}:{qualname}"
    return str(function)


def _import_check(spec: str, base_dir: Path) -> Path | None:
    """Import the function here; returns a folder the nodes need on PYTHONPATH, if any.

    Workers add their working directory (the launch directory) and the config's folder to
    sys.path themselves; a module found anywhere else outside the installed packages is
    made importable on the nodes through PYTHONPATH in the script.
    """
    from .worker import load_function

    load_function(spec, base_dir)
    module = sys.modules.get(spec.split(":", 1)[0])
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = Path(file).resolve().parent
    depth = spec.split(":", 1)[0].count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    installed = {"site-packages", "dist-packages"} & set(root.parts)
    in_prefix = any(root.is_relative_to(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix})
    if installed or in_prefix or root in (Path.cwd().resolve(), base_dir.resolve()):
        return None
    return root


def log_dir(config: ExperimentConfig, slurm: SlurmConfig) -> Path:
    """`slurm.log_dir`, or pyexp_logs/<table>/; relative paths are relative to the config's folder."""
    base = config.base_dir
    if slurm.log_dir:
        path = Path(slurm.log_dir).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    return (base / "pyexp_logs" / config.name).resolve()


def node_database_url(db: DatabaseConfig) -> str:
    """The URL the workers connect with: never the password (that travels in the environment)."""
    url = db.url
    if db.kind == "mysql":
        query = {k: v for k, v in (("unix_socket", db.unix_socket), ("read_default_file", db.read_default_file)) if v}
        if query:
            url += "?" + urlencode(query)
    return url


def worker_args(config: ExperimentConfig, spec: str) -> list[str]:
    assert config.path is not None
    return ["--config", str(config.path), "--db", node_database_url(config.database), "--function", spec]


def _worker_environment(db: DatabaseConfig) -> dict[str, str]:
    return {"PYEXP_DB_PASSWORD": db.password} if db.password is not None else {}


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the sbatch child only (SLURM passes the submit environment on)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _have(program: str) -> bool:
    from shutil import which

    return which(program) is not None


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _check_nodes(config: ExperimentConfig, slurm: SlurmConfig, result: LaunchResult) -> None:
    nodelist = dict(slurm.sbatch).get("nodelist") or dict(slurm.sbatch).get("w")
    if nodelist and not re.search(r"[,\[]", nodelist):
        nodes: set[str] | None = {nodelist}
    else:
        nodes = partition_nodes(slurm.partition)
    where = f"partition {slurm.partition}" if slurm.partition else "the default partition"
    if config.database.kind == "sqlite":
        if nodes is None:
            result.notes.append(
                f"SQLite: could not tell how many nodes {where} has; SQLite is safe only if every worker runs on one node"
            )
        elif len(nodes) > 1:
            raise InputError(
                f"{config.path}: database.url: SQLite cannot serve workers on {len(nodes)} nodes ({where}): a database "
                "file on a shared filesystem (NFS, Lustre, GPFS) gets corrupted when several machines write to it. "
                "Use MariaDB/MySQL (database.url: mysql://user@host/db), or keep the workers on one node "
                "(--sbatch nodelist=NODE), or run them with --local"
            )
        else:
            result.notes.append(f"SQLite: all workers run on {next(iter(nodes))}, the only node of {where}")
    elif config.database.host in _LOCAL_HOSTS and not config.database.unix_socket and nodes is not None:
        here = {socket.gethostname(), socket.getfqdn(), "localhost"}
        if nodes - here:
            result.notes.append(
                f"database host {config.database.host} means each node's own machine; give the nodes a host name "
                "they can reach"
            )


# ----------------------------------------------------------------------------- submitit

_SUBMITIT_EXECUTOR: Any = None


def _script_executor_class() -> Any:
    """submitit's SlurmExecutor, handing sbatch our rendered script instead of its own."""
    global _SUBMITIT_EXECUTOR
    if _SUBMITIT_EXECUTOR is None:
        import submitit

        class ScriptExecutor(submitit.SlurmExecutor):
            def __init__(self, folder: Path, script: str) -> None:
                super().__init__(folder=folder)
                self.script = script
                self.uids: list[str] = []

            def _make_submission_file_text(self, command: str, uid: str) -> str:
                self.uids.append(uid)
                return self.script

        _SUBMITIT_EXECUTOR = ScriptExecutor
    return _SUBMITIT_EXECUTOR


def submit_script(script: str, folder: Path) -> str:
    """Submit one rendered array script through submitit; returns the array job id.

    submitit writes it to FOLDER/<job id>_submission.sh (kept: the exact script of each job),
    runs sbatch and parses the id. Its job object is not used afterwards: submitit follows jobs
    through sacct, which many clusters (and our test cluster) disable; the table tells us more.
    """
    executor = _script_executor_class()(folder, script)
    with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes sbatch's errors; we raise them
        job = executor._submit_command("pyexp-worker")
    for uid in executor.uids:  # submitit leaves a dot-file symlink to the script behind
        link = folder / f".submission_file_{uid}.sh"
        if link.is_symlink():
            link.unlink()
    return str(job.job_id)


# ----------------------------------------------------------------------------- local mode


def _run_local(result: LaunchResult, args: list[str], env: Mapping[str, str], extra_path: Path | None) -> LaunchResult:
    """The same N workers as processes of this machine; returns when all have exited."""
    assert result.log_dir is not None
    result.log_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **env}
    if extra_path is not None:
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), child_env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "pyexperimenter.launcher", "worker", *args]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.monotonic()
    procs = []
    for i in range(result.workers):
        with open(result.log_dir / f"local-{stamp}-{i}.log", "ab") as out:
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=child_env))
    try:
        result.exit_codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:  # they got the same SIGINT and are releasing their rows
            p.wait()
        raise
    result.seconds = time.monotonic() - started
    return result


# ----------------------------------------------------------------------------- on the node


class _EarlyStop:
    """Records a stop signal that arrives before the worker installs its own handlers."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum).name


def worker_main(config_path: str, db_url: str | None, function: str) -> int:
    """One worker: what every array task (and every --local process) runs. Returns an exit code."""
    early = _EarlyStop()
    for s in (signal.SIGUSR2, signal.SIGTERM):
        signal.signal(s, early)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    from .store import WorkerIdentity
    from .worker import Worker, load_function

    me = WorkerIdentity.current()
    try:
        config = load_config(config_path, db=db_url)
        fn = load_function(function, config.base_dir)
        deadline = os.environ.get("PYEXP_DEADLINE")
        until = f", claiming until {time.strftime('%H:%M:%S', time.localtime(float(deadline)))}" if deadline else ""
        print(f"pyexp worker {me.worker}: table {config.name} on {config.database.url}, function {function}{until}",
              flush=True)
        if early.signal:
            print(f"pyexp worker {me.worker}: {early.signal} before the start; exiting", flush=True)
            return 0
        worker = Worker(config, fn, identity=me)
        stats = worker.run()
    except PyexpError as e:
        print(f"pyexp worker {me.worker}: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except BaseException:  # noqa: BLE001 - the log file is the only place this can go
        traceback.print_exc()
        return 1
    why = f", stopped by {stats.interrupted_by}" if stats.interrupted_by else ""
    print(
        f"pyexp worker {me.worker}: ran {stats.executed} experiment(s): done {stats.done}, failed {stats.failed}, "
        f"released {stats.released}, recovered {stats.recovered} lost run(s){why}",
        flush=True,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyexperimenter.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run one worker until the table is drained (what SLURM tasks run)")
    w.add_argument("--config", required=True)
    w.add_argument("--db", default=None)
    w.add_argument("--function", required=True)
    ns = parser.parse_args(argv)
    return worker_main(ns.config, ns.db, ns.function)


if __name__ == "__main__":
    sys.exit(main())
