"""The Python API: one object per experiment table, for filling, running, launching and reading it."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ExperimentConfig, load_config
from .errors import ConfigError, InputError
from .launch import LaunchResult, wait_for_jobs
from .launch import launch as launch_workers
from .results import table_frame
from .results.query import results_frame, select_frame
from .store import Store, open_store
from .worker import ExperimentFunction, load_function, run_workers

if TYPE_CHECKING:
    import pandas as pd

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
                raise InputError(
                    f"table {self.config.name} does not exist in {self.config.database.url}; "
                    f"run `pyexp fill {self._config_name}` first"
                )
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
    def fill_table_from_config(self, progress: Callable[[int], None] | None = None) -> int:
        """Create the tables and insert the grid's rows not present yet; returns how many."""
        grid = self.config.grid
        if len(grid) == 0:
            where = self.config.path or "config"
            raise ConfigError(f"{where}: parameters: the grid is empty; give every parameter at least one value")
        return self._creating_store().insert_missing(iter(grid), progress=progress)

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

    def fill_table_with_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert explicit rows (each a dict of every parameter); duplicates are skipped."""
        checked = [self._check_row(i, row) for i, row in enumerate(rows)]
        if not checked:
            raise InputError("no rows to add")
        return self._creating_store().insert_missing(checked)

    def _check_row(self, index: int, row: Mapping[str, Any]) -> dict[str, Any]:
        params = self.config.parameters
        missing = [p for p in params if p not in row]
        extra = [k for k in row if k not in params]
        if missing or extra:
            what = f"lacks parameter {missing[0]!r}" if missing else f"has unknown parameter {extra[0]!r}"
            raise InputError(f"row {index}: {what}; expected exactly {', '.join(params)}")
        for name, sql_type in params.items():
            value = row[name]
            check = _KIND_CHECKS.get(sql_type.kind)
            if value is not None and check is not None and not check(value):
                raise InputError(f"row {index}: {name}: expected a value for {sql_type.name}, got {value!r}")
        return dict(row)

    # --- running
    def _function(self, fn: ExperimentFunction | str | None) -> ExperimentFunction:
        if callable(fn):
            return fn
        spec = fn or self.config.function
        if not spec:
            raise InputError(f"{self.config.path}: experiment.function: no experiment function given")
        return load_function(spec, self.config.base_dir)

    def execute(self, fn: ExperimentFunction | str | None = None, max_experiments: int = -1,
                random_order: bool = False, n_jobs: int | None = None,
                on_progress: Callable[[dict[str, int]], None] | None = None) -> list[int]:
        """Run local workers until no open rows are left (or each ran `max_experiments`);
        returns their exit codes. `on_progress` gets the table's counts about twice a second
        while they run, read on a connection of its own (a progress bar needs no second
        Experimenter)."""
        function = self._function(fn)
        self.store  # noqa: B018 - fail here, once, if the table is missing
        self.close()  # workers open their own connections; none is shared across fork
        return run_workers(self.config, function, n_jobs or self.config.n_jobs, max_experiments, random_order,
                           on_progress=on_progress)

    def launch(self, fn: str | Callable[..., Any] | None = None, workers: int = 200, dry_run: bool = False,
               local: bool = False, wait: bool = False, **slurm_overrides: Any) -> LaunchResult:
        """Submit `workers` identical workers as SLURM array jobs (or run them here with
        `local`, or only plan them with `dry_run`); `slurm_overrides` are `slurm:` keys.
        With `wait`, returns once the table is drained or no submitted job is left."""
        result = launch_workers(self.config, self.store, function=fn, workers=workers, dry_run=dry_run, local=local,
                                **slurm_overrides)
        if wait and result.job_ids:
            result.counts = wait_for_jobs(result, self.counts)
        return result

    # --- maintenance
    def reset_experiments(self, *states: str, ids: Sequence[int] | None = None) -> int:
        """Put rows of these statuses back to `created`; ids, parameters and history are kept."""
        from .status import ALL_STATUSES

        for s in states:
            if s != "all" and s not in ALL_STATUSES:
                raise InputError(f"unknown status {s!r}; expected one of {', '.join(ALL_STATUSES)}, all")
        if not states and ids is None:
            return 0
        return self.store.reset(list(states) or None, ids)

    def recover(self) -> int:
        """Requeue lost runs now (workers also do this on their own)."""
        cfg = self.config
        return self.store.requeue_stale(cfg.stale_after_seconds, cfg.max_attempts, cfg.retry_delay_seconds)

    def delete_table(self) -> None:
        store = self._store or open_store(self.config)
        store.drop()
        store.close()
        self._store = None

    # --- reading
    def counts(self) -> dict[str, int]:
        return self.store.counts(self.config.stale_after_seconds)

    def get_table(self, keep_internal: bool = False, where: Sequence[str] = (), columns: Sequence[str] = ()) -> pd.DataFrame:
        """Every row and column; with `where` (`["dataset=iris", "seed<3"]`) or `columns`, only
        those, filtered by the database."""
        if where or columns:
            return select_frame(self.store, where=where, columns=columns)
        return table_frame(self.store.rows(), keep_internal)

    def get_logtable(self, name: str) -> pd.DataFrame:
        if name not in self.config.logtables:
            raise InputError(f"unknown logtable {name!r}; expected one of {sorted(self.config.logtables)}")
        return table_frame(self.store.rows(self.store.schema.logtable(name)))

    def get_attempts(self) -> pd.DataFrame:
        return table_frame(self.store.rows(self.store.schema.attempts_table))

    def results(self, status: Sequence[str] = (), where: Sequence[str] = (), columns: Sequence[str] = (),
                group_by: Sequence[str] = (), agg: str | Sequence[str] = "mean") -> pd.DataFrame:
        """Results as a DataFrame; with `group_by`, aggregated over the other parameters
        (e.g. `results(group_by=["dataset", "model"], agg=["mean", "std"])` averages over seeds)."""
        return results_frame(self.store, self._result_columns(), status, where, columns, group_by, agg)

    def _result_columns(self) -> list[str]:
        return list(self.config.results)


class PyExperimenter(Experimenter):
    """PyExperimenter 1.4's constructor and `execute` order, so only the import changes."""

    def __init__(
        self,
        experiment_configuration_file_path: str = "config/experiment_configuration.yml",
        database_credential_file_path: str | None = "config/database_credentials.yml",
        use_ssh_tunnel: bool | None = None,
        table_name: str | None = None,
        database_name: str | None = None,
        use_codecarbon: bool = True,
        name: str = "PyExperimenter",
        logger_name: str = "py-experimenter",
        log_level: int | str = logging.INFO,
        log_file: str | None = None,
    ):
        creds = database_credential_file_path
        if creds is not None and not Path(creds).is_file():
            creds = None  # fall back to the credentials file next to the config
        config = load_config(experiment_configuration_file_path, credentials_path=creds)
        if use_ssh_tunnel:
            raise InputError("SSH tunnels are not supported; open the tunnel yourself and point the credentials at it")
        if table_name:
            from .sqltypes import is_identifier

            if not is_identifier(table_name):
                raise InputError(f"table_name: must match [A-Za-z_][A-Za-z0-9_]{{0,63}}, got {table_name!r}")
            config = replace(config, name=table_name)
        if database_name:
            db = config.database
            if db.kind == "sqlite":
                db = replace(db, path=(Path.cwd() / f"{database_name}.db").resolve())
            else:
                db = replace(db, database=database_name)
            config = replace(config, database=db)
        config = replace(config, experimenter_name=name)
        logging.getLogger("pyexperimenter").setLevel(log_level)
        super().__init__(config)

    def execute(  # type: ignore[override]
        self,
        experiment_function: ExperimentFunction,
        random_order: bool = False,
        n_jobs: int | None = None,
        max_experiments: int = -1,
    ) -> list[int]:
        return super().execute(experiment_function, max_experiments=max_experiments, random_order=random_order, n_jobs=n_jobs)

    def create_table(self, create_database: bool = False) -> None:
        self._creating_store()
