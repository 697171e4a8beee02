"""Checks before anything is submitted: what the nodes would otherwise trip over, minutes
later and one log file at a time (a function that does not import, a missing table, a
SQLite file written from several machines, a database host that means each node itself)."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, SlurmConfig
from ..errors import InputError
from ..store import Store
from ..worker import load_function
from .result import LaunchResult
from .scheduler import Placement, Scheduler
from .script import pythonpath_line

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


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


def import_check(spec: str, base_dir: Path, where: str = "experiment.function") -> Path | None:
    """Import the function here; returns a folder the nodes need on PYTHONPATH, if any.

    Workers add their working directory (the launch directory) and the config's folder to
    sys.path themselves; a module found anywhere else outside the installed packages is
    made importable on the nodes through PYTHONPATH in the script.
    """
    load_function(spec, base_dir, where)
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


def table_counts(config: ExperimentConfig, store: Store) -> dict[str, int]:
    """The database answers and the table exists; its counts, to size the launch."""
    if not store.exists():
        config_name = config.path.name if config.path else "CONFIG"
        raise InputError(
            f"table {config.name} does not exist in {config.database.url}; run `pyexp fill {config_name}` first"
        )
    return store.counts(config.stale_after_seconds, store.filter(config.where))


def require_submit(cluster: Scheduler) -> None:
    if not cluster.available():
        raise InputError(
            f"{cluster.submit_command} not found: this machine cannot submit to {cluster.label}; "
            "use --local, or --dry-run to print the script"
        )


def check_nodes(config: ExperimentConfig, placement: Placement, result: LaunchResult) -> None:
    """SQLite on several nodes is refused; a database host that is each node's own machine
    is a note. Both need the nodes the jobs may land on, which only the scheduler knows."""
    nodes = placement.nodes
    if config.database.kind == "sqlite":
        _check_sqlite(config, placement, result)
    elif (config.database.host in _LOCAL_HOSTS and not config.database.unix_socket and nodes is not None
          and config.database.server_dir is None):  # pyexp-db: the connection file says where
        here = {socket.gethostname(), socket.getfqdn(), "localhost"}
        if nodes - here:
            result.notes.append(
                f"database host {config.database.host} means each node's own machine; give the nodes a host name "
                "they can reach"
            )


def _check_sqlite(config: ExperimentConfig, placement: Placement, result: LaunchResult) -> None:
    nodes, where = placement.nodes, placement.where
    if nodes is None:
        result.notes.append(
            f"SQLite: could not tell how many nodes {where} has; SQLite is safe only if every worker runs on one node"
        )
    elif len(nodes) > 1:
        raise InputError(
            f"{config.path}: database.url: SQLite cannot serve workers on {len(nodes)} nodes ({where}): a database "
            "file on a shared filesystem (NFS, Lustre, GPFS) gets corrupted when several machines write to it. "
            "Use MariaDB/MySQL or PostgreSQL (database.url: mysql://user@host/db, postgresql://user@host/db; "
            "no server? `pyexp db start`, then database.url: pyexp-db://~/.pyexp/db), or keep the workers on one node "
            f"({placement.one_node_hint}), or run them with --local"
        )
    else:
        result.notes.append(f"SQLite: all workers run on {next(iter(nodes))}, the only node of {where}")


_MARK = "pyexp-preflight: interpreter started"
# Run by the configured interpreter: the mark proves the interpreter and the setup lines got
# this far, so what follows it is the package or the function failing to import.
_PROBE = (
    "import sys\n"
    f"print({_MARK!r}, flush=True)\n"
    "from pyexperimenter.worker import load_function\n"
    "load_function(sys.argv[1], sys.argv[2])\n"
)
PROBE_SECONDS = 120.0


def interpreter_check(slurm: SlurmConfig, spec: str, base_dir: Path, extra_path: Path | None) -> list[str]:
    """Import the package and the function with `slurm.python` after the `setup` lines, as
    the script will on the nodes; returns notes. The local import check proves nothing about
    another interpreter, and a node without the package otherwise fails every worker at its
    first line. Setup lines that only work on the nodes (`module load` on a login node
    without modules) make this inconclusive: a note, never a refusal."""
    if not slurm.python:  # the workers run this very interpreter: import_check has tried it
        return []
    python = slurm.python
    lines = [*slurm.setup, *pythonpath_line(extra_path),
             f"exec {python} -c {shlex.quote(_PROBE)} {shlex.quote(spec)} {shlex.quote(str(base_dir))}"]
    try:  # in this environment: sbatch hands it to the jobs
        done = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True,
                              timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"could not try slurm.python here ({e}); the workers will"]
    if done.returncode == 0:
        return []
    error = _last_line(done.stderr) or f"exit code {done.returncode}"
    if _MARK not in done.stdout:
        return [f"could not try slurm.python ({python}) with the setup lines here: {error}; the workers will"]
    raise InputError(f"slurm.python: {python} (after the setup lines) cannot import {spec}: {error}")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
