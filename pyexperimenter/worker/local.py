"""Local workers: N of them on this machine, as `Experimenter.execute` and `pyexp run` start them.

One worker runs in this process (easy to debug with `breakpoint()`, and the function need
not be importable); more are forked, so a function defined in a script or a notebook works
too. Each forked child runs `node.run_node`, exactly like a SLURM task does.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

from ..config import ExperimentConfig
from ..errors import InputError
from ..store import Store, open_store
from . import provenance, signals
from .devices import CUDA_VARIABLE
from .function import ExperimentFunction
from .loop import Worker, WorkerInterrupted
from .node import exit_code, run_node

log = logging.getLogger("pyexperimenter")

Progress = Callable[[dict[str, int]], None]
PROGRESS_SECONDS = 0.5
# Forked workers per core: experiments that wait on I/O or a GPU want several per core, but a
# mistyped `--jobs 100000` must not fork until the machine stops answering.
JOBS_PER_CPU = 8
MIN_JOBS_LIMIT = 64


def check_jobs(n_jobs: int) -> None:
    """Refuse a number of local workers this machine cannot run, before any is started."""
    limit = max(MIN_JOBS_LIMIT, JOBS_PER_CPU * (os.cpu_count() or 1))
    if n_jobs > limit:
        raise InputError(f"--jobs/n_jobs: {n_jobs:,} local workers is more than this machine runs "
                         f"({limit} at most: {JOBS_PER_CPU} per CPU); use `pyexp launch` for more")


def run_workers(
    config: ExperimentConfig,
    fn: ExperimentFunction,
    n_jobs: int = 1,
    max_experiments: int = -1,
    random_order: bool = False,
    on_progress: Progress | None = None,
    devices: Sequence[str] | None = None,
    snapshot: str | None = None,
) -> list[int]:
    """Run `n_jobs` workers until nothing is open; returns their exit codes.

    `devices` (`--gpus`, see devices.assign) holds each worker's CUDA_VISIBLE_DEVICES:
    worker i sees only `devices[i]`, and its attempts record it. `snapshot` is the hash of
    the code snapshot `fn` was imported from (snapshot.py), recorded with each attempt.

    A worker stopped by SIGTERM/SIGINT/SIGUSR2 releases its row and exits with 128 + the
    signal. Those signals sent to this process alone are passed on to every forked worker;
    after they all exited, SIGINT raises KeyboardInterrupt here. `on_progress` gets the
    table's counts about twice a second, read on a connection of its own.
    """
    if devices is not None and len(devices) < n_jobs:
        raise ValueError(f"{n_jobs} workers, devices for {len(devices)}")
    if n_jobs <= 1:
        with _visible_devices(devices[0] if devices else None):
            return [_run_here(config, fn, max_experiments, random_order, on_progress, snapshot)]
    return _run_forked(config, fn, n_jobs, max_experiments, random_order, on_progress, devices, snapshot)


@contextlib.contextmanager
def _visible_devices(value: str | None) -> Iterator[None]:
    """CUDA_VISIBLE_DEVICES for the worker in this process, restored afterwards."""
    if value is None:
        yield
        return
    saved = os.environ.get(CUDA_VARIABLE)
    os.environ[CUDA_VARIABLE] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(CUDA_VARIABLE, None)
        else:
            os.environ[CUDA_VARIABLE] = saved


def _run_here(config: ExperimentConfig, fn: ExperimentFunction, max_experiments: int, random_order: bool,
              on_progress: Progress | None, snapshot: str | None = None) -> int:
    """The one worker in this process; exceptions reach the caller (the CLI reports them).
    Progress comes from a thread, since this thread is busy running experiments."""
    watcher = _Watcher(config, on_progress) if on_progress is not None else None
    if watcher is not None:
        watcher.start()
    try:
        worker = Worker(config, fn, max_experiments=max_experiments, random_order=random_order, snapshot=snapshot)
        stats = worker.run()
    except WorkerInterrupted as e:
        return exit_code(str(e) or "SIGINT", None)
    finally:
        if watcher is not None:
            watcher.stop()
    return exit_code(stats.interrupted_by, worker.deadline)


def _child(config: ExperimentConfig, fn: ExperimentFunction, max_experiments: int, random_order: bool,
           device: str | None = None, measured: tuple[Path | None, provenance.Provenance] | None = None,
           snapshot: str | None = None) -> None:
    """What a forked worker runs: the node entry point, then `os._exit` (no atexit
    handlers or inherited finalizers of the parent run in the child)."""
    if device is not None:  # before anything in the child could initialise CUDA
        os.environ[CUDA_VARIABLE] = device
    if measured is not None:
        provenance.inherit(*measured)
    code = run_node(lambda: (config, fn), max_experiments=max_experiments, random_order=random_order, announce=False,
                    snapshot=snapshot)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_forked(config: ExperimentConfig, fn: ExperimentFunction, n_jobs: int, max_experiments: int,
                random_order: bool, on_progress: Progress | None, devices: Sequence[str] | None = None,
                snapshot: str | None = None) -> list[int]:
    ctx = multiprocessing.get_context("fork")
    # Provenance measured once, here, just before the forks (the code cannot change between
    # the two), instead of by each worker: git twice and the package list, times n_jobs.
    folder = provenance.code_folder(fn)
    measured = (folder, provenance.measure(folder, fresh=True))
    procs = [ctx.Process(target=_child, args=(config, fn, max_experiments, random_order,
                                              devices[i] if devices else None, measured, snapshot), daemon=False)
             for i in range(n_jobs)]
    for p in procs:
        p.start()
    forward = signals.Forwarder(lambda: [p.pid for p in procs if p.pid is not None and p.exitcode is None])
    # Installed after the forks: a child must never run this handler. Progress is read
    # between joins, on a connection opened after the forks: no thread and no connection
    # of this process is ever copied into a child.
    previous = signals.install(forward)
    progress = _Counts(config) if on_progress is not None else None
    try:
        _join_all(procs, lambda: _tick(progress, on_progress) if not forward.received else None)
    except KeyboardInterrupt:
        for p in procs:  # the children got the same SIGINT and are releasing their rows
            p.join()
        raise
    finally:
        signals.restore(previous)
        if progress is not None:
            progress.close()
    if signal.SIGINT in forward.received:
        raise KeyboardInterrupt
    return [p.exitcode if p.exitcode is not None else 1 for p in procs]


def _join_all(procs: Sequence[BaseProcess], between: Callable[[], None]) -> None:
    while any(p.is_alive() for p in procs):
        for p in procs:
            p.join(timeout=PROGRESS_SECONDS / len(procs))
        between()


def _tick(counts: _Counts | None, on_progress: Progress | None) -> None:
    if counts is None or on_progress is None:
        return
    fresh = counts.read()
    if fresh is None:
        return
    try:
        on_progress(fresh)
    except Exception as e:  # noqa: BLE001 - a progress bar must never break a run
        log.debug("progress: the callback failed: %s", e)


class _Counts:
    """The table's counts on a connection of its own, never shared with a worker. Opened
    lazily, and a failing read returns None: progress must never break a run."""

    def __init__(self, config: ExperimentConfig):
        self.config = config
        self._store: Store | None = None

    def read(self) -> dict[str, int] | None:
        try:
            if self._store is None:
                self._store = open_store(self.config)
            return self._store.counts(self.config.stale_after_seconds)
        except Exception as e:  # noqa: BLE001 - the workers report real database trouble
            log.debug("progress: cannot read the counts: %s", e)
            return None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class _Watcher(threading.Thread):
    """Reports progress every half second while the in-process worker runs."""

    def __init__(self, config: ExperimentConfig, on_progress: Progress):
        super().__init__(name="pyexp-progress", daemon=True)
        self.counts, self.on_progress = _Counts(config), on_progress
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.wait(PROGRESS_SECONDS):
                _tick(self.counts, self.on_progress)
        finally:
            self.counts.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
