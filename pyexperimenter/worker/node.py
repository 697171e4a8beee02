"""The one way a worker process runs: SLURM array tasks, `pyexp launch --local` processes
and the workers `pyexp run --jobs N` forks all go through `run_node`.

So logging is set up in one place, and a worker's outcome becomes its exit code by one
rule (`exit_code`): whoever started the process reads the same codes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from .. import environment
from ..config import ExperimentConfig, load_config
from ..config.ssh import read_gateway
from ..errors import PyexpError
from ..snapshot import MANIFEST, recreate
from ..snapshot import use as use_snapshot
from ..store import WorkerIdentity
from .function import ExperimentFunction, load_function
from .loop import Worker, WorkerInterrupted, WorkerStats
from .output import lossy_streams
from .requeue import requeue_task
from .signals import DeadlineAlarm, EarlyStop, signal_number

LOG_FORMAT = "%(asctime)s %(levelname)s worker %(process)d: %(message)s"

Loader = Callable[[], tuple[ExperimentConfig, ExperimentFunction]]


def exit_code(stopped_by: str | None, deadline: float | None) -> int:
    """The one rule: 0 when the worker ended on its own (nothing left, its share done, its
    deadline reached); 128 + the signal when a stop signal ended it (130 for SIGINT, 143
    for SIGTERM), as a shell would report it. A worker with a deadline runs in a scheduler's
    allocation (the sbatch script sets it): there the stop signal is the scheduler's own
    request, which it records itself (timeout, cancelled, preempted); the rows went back as
    planned, so the task ends with 0 rather than being counted failed on top."""
    if stopped_by is None or deadline is not None:
        return 0
    return 128 + signal_number(stopped_by)


def setup_logging(level: int) -> None:
    """Our log lines on stderr, unless the process already logs somewhere: a forked worker
    keeps what its parent (the CLI, a notebook, pytest) set up."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


def line_buffered() -> None:
    """A batch job's stdout is a file, which Python block-buffers: the SLURM log would show
    what experiments printed only when the worker exits (all of it lost to an OOM kill or
    SIGKILL), and stdout's lines would land after stderr's. One line at a time, as on a
    terminal, costs a write per line."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True)
            except (OSError, ValueError):  # a stream that cannot: leave it as it is
                pass


def run_node(
    load: Loader,
    *,
    function: str = "",
    max_experiments: int = -1,
    random_order: bool = False,
    announce: bool = True,
    early: EarlyStop | None = None,
    snapshot: str | None = None,
) -> int:
    """Load the config and function, run one Worker, and return its exit code.

    `announce` (a process of its own, with a log file of its own) logs at INFO and prints
    what it is about to do and what it did; without it (forked workers sharing a terminal)
    only warnings and errors appear. `snapshot` is the hash of the code snapshot `load`
    imports from, recorded with each attempt. Errors are one line on stderr (a traceback for a bug),
    never an exception: this is the outermost frame of the worker process.
    """
    early = early or EarlyStop.install()
    line_buffered()
    streams = lossy_streams()  # a full log disk costs log lines, never the worker or an experiment
    setup_logging(logging.INFO if announce else logging.WARNING)
    me = WorkerIdentity.current()
    deadline = environment.deadline()
    try:
        config, fn = load()
        if announce:
            until = f", claiming until {time.strftime('%H:%M:%S', time.localtime(deadline))}" if deadline else ""
            what = f", function {function}" if function else ""
            print(f"pyexp worker {me.worker}: table {config.name} on {config.database.url}{what}{until}", flush=True)
        if early.signal:
            if announce:
                print(f"pyexp worker {me.worker}: {early.signal} before the start; exiting", flush=True)
            return exit_code(early.signal, deadline)
        worker = Worker(config, fn, identity=me, max_experiments=max_experiments, random_order=random_order,
                        deadline=deadline, snapshot=snapshot)
        with DeadlineAlarm(deadline) if deadline is not None and me.scheduler == "sge" else nullcontext():
            stats = worker.run()
    except WorkerInterrupted as e:  # a stop signal between two of the worker's own guards
        return exit_code(str(e) or "SIGINT", deadline)
    except PyexpError as e:
        print(f"pyexp worker {me.worker}: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except BaseException:  # noqa: BLE001 - the log file is the only place this can go
        traceback.print_exc()
        return 1
    requeued = requeue_task() if stats.requeue_task else None  # SLURM ends this process as it requeues
    if requeued is not None:
        print(f"pyexp worker {me.worker}: {requeued.note}", flush=True)
    if announce:
        lost = sum(stream.lost for stream in streams)
        error = next((stream.error for stream in streams if stream.error), None)
        print(summary(me, stats) + (f"; {lost} characters of this log lost ({error})" if lost else ""), flush=True)
    if requeued is not None and requeued.exit_code is not None:  # Grid Engine runs the task again
        return requeued.exit_code
    return exit_code(stats.interrupted_by, deadline)


def summary(me: WorkerIdentity, stats: WorkerStats) -> str:
    why = f", stopped by {stats.interrupted_by}" if stats.interrupted_by else ""
    if stats.quarantined:
        why += f"; {stats.quarantined}"
    return (
        f"pyexp worker {me.worker}: ran {stats.executed} experiment(s): done {stats.done}, failed {stats.failed}, "
        f"released {stats.released}, requeued {stats.requeued}, recovered {stats.recovered} lost run(s){why}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pyexperimenter.worker --config PATH [--db URL] [--ssh-file FILE --ssh-format F] --function MODULE:FN`."""
    early = EarlyStop.install()  # first thing: loading the config and the function takes a while
    parser = argparse.ArgumentParser(
        prog="python -m pyexperimenter.worker",
        description="Run one worker until the table is drained (what every SLURM array task runs).",
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--db", default=None)
    parser.add_argument("--ssh-file", default=None, help="the file naming the SSH gateway to the database")
    parser.add_argument("--ssh-format", choices=("native", "pyexperimenter"), default="native",
                        help="that file is a native config (database.ssh) or a PyExperimenter credentials file")
    parser.add_argument("--function", required=True)
    parser.add_argument("--where", action="append", default=[], help="claim only rows where COL=VALUE (repeatable)")
    parser.add_argument("--snapshot", default=None, help="import the function from this code snapshot's folder")
    parser.add_argument("--snapshot-path", default=".", help="the folder inside the snapshot to import from")
    ns = parser.parse_args(argv)

    def load() -> tuple[ExperimentConfig, ExperimentFunction]:
        config = replace(load_config(ns.config, db=ns.db), where=tuple(ns.where))
        if ns.ssh_file is not None:  # exactly the launching process's gateway, whatever the config says
            ssh = read_gateway(ns.ssh_file, legacy=ns.ssh_format == "pyexperimenter")
            config = config.with_database(replace(config.database, ssh=ssh))
        code = None
        if ns.snapshot:
            if not Path(ns.snapshot, MANIFEST).exists():  # a dry run's script, submitted by hand
                recreate(Path(ns.snapshot), ns.function, config.base_dir, config.snapshot_max_mb)
            code = use_snapshot(Path(ns.snapshot), ns.snapshot_path)
        return config, load_function(ns.function, config.base_dir, "--function", code)

    return run_node(load, function=ns.function, early=early, snapshot=Path(ns.snapshot).name if ns.snapshot else None)
