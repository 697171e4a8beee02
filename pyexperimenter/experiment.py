"""The Python API: one object per experiment table, for filling, running, launching and reading it."""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .config import ExperimentConfig, load_config
from .errors import ConfigError, InputError
from .params.priority import PriorityError, row_priority
from .store import Store, open_store

# Launching, running and the DataFrame readers are imported where used: `pyexp status` and
# `pyexp results` need none of them, and importing them made every command 0.1-0.2 s slower.
if TYPE_CHECKING:
    import pandas as pd

    from .launch import CancelResult, LaunchResult
    from .results.logs import AttemptLog
    from .results.records import Records
    from .snapshot import Use as SnapshotUse
    from .worker import ExperimentFunction
    from .worker.function import Code

_INTEGER = re.compile(r"[+-]?[0-9]+")
_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, (bool, int)),
}


class Experimenter:
    """An experiment table and everything done with it: fill, run, launch, inspect."""

    def __init__(self, config: str | os.PathLike[str] | ExperimentConfig = "experiment.yml", db: str | None = None,
                 credentials: str | os.PathLike[str] | None = None):
        self.config = config if isinstance(config, ExperimentConfig) else load_config(config, db, credentials)
        self._store: Store | None = None

    # --- connection
    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config)
            if not self._store.exists():
                self.close()
                raise InputError(
                    f"table {self.config.name} does not exist in {self.config.database.url}; "
                    f"run `pyexp fill {self._config_name}` first"
                )
            self._store.adopt()  # a PyExperimenter 1.4 table gains our columns in place
        return self._store

    @property
    def _config_name(self) -> str:
        return str(self.config.path.name) if self.config.path else "CONFIG"

    def _creating_store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config, create=True)
        self._store.create()
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Experimenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- filling
    def fill_table_from_config(self, progress: Callable[[int], None] | None = None, priority: int | None = None) -> int:
        """Create the tables and insert the grid's rows not present yet, with this priority
        (default: experiment.priority, a number or an expression over the parameters; higher
        is claimed first; rows already there keep theirs); returns how many."""
        grid = self.config.grid
        if len(grid) == 0:
            where = self.config.path or "config"
            raise ConfigError(f"{where}: parameters: the grid is empty; give every parameter at least one value")
        return self._creating_store().insert_missing(iter(grid), progress=progress, priority=self._priority(priority))

    def fill_table_from_combination(
        self,
        parameters: Mapping[str, Sequence[Any]] | None = None,
        fixed_parameter_combinations: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """The product of `parameters`, crossed with each fixed combination (PyExperimenter's)."""
        parameters = parameters or {}
        fixed = list(fixed_parameter_combinations or [{}])
        names = list(parameters)

        def rows() -> Iterable[dict[str, Any]]:
            for combo in itertools.product(*(parameters[n] for n in names)):
                base = dict(zip(names, combo))
                for f in fixed:
                    yield {**base, **f}

        return self.fill_table_with_rows(rows())

    def fill_table_with_rows(self, rows: Iterable[Mapping[str, Any]], priority: int | None = None) -> int:
        """Insert explicit rows (each a dict of every parameter); duplicates are skipped."""
        checked = [self._check_row(i, row) for i, row in enumerate(rows)]
        if not checked:
            raise InputError("no rows to add")
        return self._creating_store().insert_missing(checked, priority=self._priority(priority))

    def _priority(self, given: int | None) -> int | Callable[[Mapping[str, Any]], int]:
        """`given` (`fill --priority N`) wins over experiment.priority; a bad value of the
        expression for some row is bad input, named with the config's key."""
        if given is not None:
            return given
        of_row = row_priority(self.config.priority)
        if not callable(of_row):
            return of_row

        def checked(row: Mapping[str, Any]) -> int:
            try:
                return of_row(row)
            except PriorityError as e:
                raise ConfigError(f"{self.config.path or 'config'}: experiment.priority: {e}") from None

        return checked

    def _check_row(self, index: int, row: Mapping[str, Any]) -> dict[str, Any]:
        params = self.config.parameters
        missing = [p for p in params if p not in row]
        extra = [k for k in row if k not in params]
        if missing or extra:
            what = f"lacks parameter {missing[0]!r}" if missing else f"has unknown parameter {extra[0]!r}"
            raise InputError(f"row {index}: {what}; expected exactly {', '.join(params)}")
        checked = dict(row)
        for name, sql_type in params.items():
            value = row[name]
            if sql_type.kind == "int" and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
                value = int(value)  # as MySQL (and PyExperimenter) take "5" for an INT
            check = _KIND_CHECKS.get(sql_type.kind)
            if value is not None and check is not None and not check(value):
                raise InputError(f"row {index}: {name}: expected a value for {sql_type.name}, got {value!r}")
            checked[name] = value
        return checked

    # --- running
    def experiment_function(self, fn: ExperimentFunction | str | None = None) -> ExperimentFunction:
        """The function the workers run: `fn` itself, or imported from `module:function`
        (`fn`, else experiment.function); a bad one is bad input, found before any worker starts."""
        if callable(fn):
            return fn
        spec = fn or self.config.function
        if not spec:
            raise InputError(f"{self.config.path}: experiment.function: no experiment function given")
        from .worker.function import load_function, spec_source

        return load_function(spec, self.config.base_dir, spec_source(fn is not None, self.config.path))

    def execute(self, fn: ExperimentFunction | str | None = None, max_experiments: int = -1,
                random_order: bool = False, n_jobs: int | None = None,
                on_progress: Callable[[dict[str, int]], None] | None = None, where: Sequence[str] = (),
                gpus: str | Sequence[str] | None = None, gpus_per_job: int = 1, snapshot: bool = True) -> list[int]:
        """Run local workers until no open rows are left (or each ran `max_experiments`);
        returns their exit codes. `on_progress` gets the table's counts about twice a second
        while they run, read on a connection of its own (a progress bar needs no second
        Experimenter). `where` (`COL=VALUE`, ...) limits the workers to matching rows.
        `gpus` (`"auto"`, `"0,1"` or a list of device ids) pins each worker to `gpus_per_job`
        devices of its own through CUDA_VISIBLE_DEVICES. A function named `module:function`
        runs from a code snapshot taken now unless `snapshot` is False; a function object runs
        as loaded (`load_code` says which, and logs why not in one warning)."""
        from .worker import run_workers
        from .worker.devices import assign as assign_devices
        from .worker.devices import resolve as devices_of
        from .worker.local import check_jobs

        n_jobs = n_jobs or self.config.n_jobs
        check_jobs(n_jobs)  # before the function is imported or any index made
        code = self.load_code(fn, snapshot)
        if code.note:
            logging.getLogger("pyexperimenter").warning("%s", code.note)
        elif code.taken:
            logging.getLogger("pyexperimenter").info("%s", code.taken)
        devices = None
        if gpus is not None:
            found = devices_of(gpus) if isinstance(gpus, str) else list(gpus)
            devices = assign_devices(found, n_jobs, gpus_per_job)
        config = self._selecting(where)  # fails here, once, if the table is missing or `where` is bad
        if self.config.codecarbon:
            self.store.create()  # `<table>_codecarbon`, for a table filled before tracking was on
        self.close()  # workers open their own connections; none is shared across fork
        return run_workers(config, code.fn, n_jobs, max_experiments, random_order, on_progress=on_progress,
                           devices=devices, snapshot=code.snapshot)

    def load_code(self, fn: ExperimentFunction | str | None = None, snapshot: bool = True) -> Code:
        """The function a local run uses and the code snapshot it comes from (snapshot.py):
        `module:function` (`fn`, else experiment.function) imported from a snapshot taken now;
        a function object as it is loaded."""
        from .worker.function import load_code, spec_source

        if not callable(fn) and not (fn or self.config.function):
            raise InputError(f"{self.config.path}: experiment.function: no experiment function given")
        given = fn if callable(fn) else (fn or self.config.function or "")
        return load_code(given, self.config.base_dir, spec_source(fn is not None, self.config.path),
                         self.config.log_folder(), self.config.snapshot_max_mb, snapshot)

    def _selecting(self, where: Sequence[str], index: bool = True) -> ExperimentConfig:
        """The config whose workers claim only rows matching `where`, its index made first."""
        if not where:
            self.store  # noqa: B018 - fail here, once, if the table is missing
            return self.config
        selected = self.store.filter(where)
        if index:
            self.store.index_filter(selected)
        return replace(self.config, where=tuple(where))

    def launch(self, fn: str | Callable[..., Any] | None = None, workers: int = 200, dry_run: bool = False,
               local: bool = False, wait: bool = False, where: Sequence[str] = (), scheduler: str | None = None,
               snapshot: bool = True, **slurm_overrides: Any) -> LaunchResult:
        """Submit `workers` identical workers as array jobs of `scheduler` ("slurm" or "sge";
        default the config's `scheduler:`, else the one on PATH), or run them here with `local`,
        or only plan them with `dry_run`; `slurm_overrides` are `slurm:` keys (both schedulers).
        With `wait`, returns once the table is drained or no submitted job is left.
        `where` limits the workers to matching rows. The workers import the function from a
        code snapshot taken now (snapshot.py) unless `snapshot` is False."""
        from .launch import launch as launch_workers
        from .launch import wait_for_jobs

        config = self._selecting(where, index=not dry_run)
        result = launch_workers(config, self.store, function=fn, workers=workers, dry_run=dry_run, local=local,
                                scheduler=scheduler, snapshot=snapshot, **slurm_overrides)
        if wait and result.job_ids:
            result.counts = wait_for_jobs(result, self.counts)
        return result

    def cancel(self, grace_seconds: float = 30.0) -> CancelResult:
        """Stop the SLURM jobs and local workers `launch` started for this table: their
        running rows go back to `created` without spending an attempt."""
        from .launch import cancel as cancel_launches

        return cancel_launches(self.config.name, self.store, grace_seconds)

    # --- maintenance
    def reset_experiments(self, *states: str, ids: Sequence[int] | None = None, where: Sequence[str] = ()) -> int:
        """Put rows of these statuses (matching `where`) back to `created`; ids, parameters
        and history are kept."""
        from .status import ALL_STATUSES

        for s in states:
            if s != "all" and s not in ALL_STATUSES:
                raise InputError(f"unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}, all")
        if not states and ids is None:
            return 0
        from .worker.checkpoints import remove

        picked: list[int] = []
        n = self.store.reset(list(states) or None, ids, self.store.filter(where), picked)
        remove(self.config.checkpoint_root(), picked)  # a reset row starts over, not from its checkpoint
        return n

    def recover(self) -> int:
        """Requeue lost runs now (workers also do this on their own)."""
        cfg = self.config
        return self.store.requeue_stale(cfg.stale_after_seconds, cfg.max_attempts, cfg.retry_delay_seconds)

    def delete_table(self) -> None:
        """Drop the tables, and the rows' checkpoint directories with them: a table made again
        starts its IDs over, and its rows must not resume from the old ones' files."""
        from .worker.checkpoints import remove_all

        store = self._store or open_store(self.config)
        store.drop()
        store.close()
        self._store = None
        remove_all(self.config.checkpoint_root())

    # --- reading
    def counts(self, where: Sequence[str] = ()) -> dict[str, int]:
        return self.store.counts(self.config.stale_after_seconds, self.store.filter(where))

    def get_table(self, keep_internal: bool = False, where: Sequence[str] = (), columns: Sequence[str] = ()) -> pd.DataFrame:
        """Every row and column; with `where` (`["dataset=iris", "seed<3"]`) or `columns`, only
        those, filtered by the database."""
        from .results import table_frame
        from .results.query import select_frame

        if where or columns:
            return select_frame(self.store, where=where, columns=columns)
        return table_frame(self.store.rows(), keep_internal)

    def get_logtable(self, name: str) -> pd.DataFrame:
        if name not in self.config.logtables:
            raise InputError(f"unknown logtable {name!r}; expected one of {sorted(self.config.logtables)}")
        from .results import table_frame

        return table_frame(self.store.rows(self.store.schema.logtable(name)))

    def get_attempts(self) -> pd.DataFrame:
        from .results import table_frame

        return table_frame(self.store.rows(self.store.schema.attempts_table))

    def snapshots(self, experiment_id: int | None = None) -> list[SnapshotUse]:
        """The code snapshots the table's attempts (or one row's) ran, first used first, each
        with its files where its folder still is (`pyexp snapshot`)."""
        from . import snapshot as code_snapshot

        if experiment_id is not None and not self.store.rows(where={"ID": int(experiment_id)}):
            raise InputError(f"no row with ID {experiment_id} in table {self.config.name}")
        found = self.store.snapshot_uses(experiment_id)
        return code_snapshot.uses(found, code_snapshot.folder_of(self.config.log_folder()))

    def restore_snapshot(self, destination: str | os.PathLike[str], experiment_id: int | None = None) -> SnapshotUse:
        """Write the code a row's latest attempt ran (or the table's only snapshot) into
        `destination`, a new or empty folder."""
        from pathlib import Path

        from . import snapshot as code_snapshot

        chosen = code_snapshot.to_restore(self.snapshots(experiment_id), experiment_id)
        assert chosen.folder is not None
        code_snapshot.restore(chosen.folder, Path(destination))
        return chosen

    def get_logs(self, experiment_id: int, attempt: int | None = None) -> AttemptLog:
        """What one attempt of an experiment printed (the latest by default; 1 is its first
        claim), read from its log file, or the stored tail when the file is not readable here."""
        from .results.logs import read_attempt

        return read_attempt(self.store, self.config.log_folder(), experiment_id, attempt)

    def results(self, status: Sequence[str] = (), where: Sequence[str] = (), columns: Sequence[str] = (),
                group_by: Sequence[str] = (), agg: str | Sequence[str] = "mean",
                with_provenance: bool = False) -> pd.DataFrame:
        """Results as a DataFrame; with `group_by`, aggregated over the other parameters
        (e.g. `results(group_by=["dataset", "model"], agg=["mean", "std"])` averages over seeds).
        `with_provenance` adds each row's latest done attempt's git commit, dirty flag,
        Python, packages hash, CUDA devices, host and SLURM job."""
        from .results import select_results
        from .results.query import results_frame

        if with_provenance:
            from .store.filters import column_kinds
            from .worker.provenance import join_provenance

            if group_by:
                raise InputError("--with-provenance gives each row's own attempt; it does not combine with --group-by")
            table = join_provenance(self.get_table(), self.store.provenance())
            kinds = column_kinds(self.store.schema, self.store.columns(), attempts=True)
            return select_results(table, self._result_columns(), status, where, columns, group_by, agg, kinds)
        return results_frame(self.store, self._result_columns(), status, where, columns, group_by, agg)

    def results_records(self, group_by: Sequence[str], status: Sequence[str] = (), where: Sequence[str] = (),
                        columns: Sequence[str] = (), agg: str | Sequence[str] = "mean") -> Records:
        """`results(group_by=...)` as plain rows (`.columns`, `.rows`; `.frame()` is the
        DataFrame), without importing pandas: `pyexp results --group-by` prints them."""
        from .results.query import results_records

        return results_records(self.store, self._result_columns(), status, where, columns, group_by, agg)

    def _result_columns(self) -> list[str]:
        return list(self.config.results)

