"""PyExperimenter 1.4's `PyExperimenter`: its constructor, method names, argument order,
defaults and exceptions, over our Experimenter (the same table, claims and workers)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ExperimentConfig, load_config
from ..config.legacy import legacy_credentials_file
from ..config.ssh import SshSectionError, legacy_ssh
from ..errors import ConfigError, DatabaseUnavailable, InputError, TableMismatch, TunnelError
from ..experiment import Experimenter
from ..results import table_frame
from ..sqltypes import is_identifier
from ..store import tunnel
from ..worker import tracking
from .config import PyExperimenterCfg
from .config_view import PyExperimenterConfig
from .connector import DatabaseConnector, DatabaseConnectorLITE, DatabaseConnectorMYSQL
from .exceptions import (
    EmptyFillDatabaseCallError,
    InvalidConfigError,
    MissingLogTableError,
    NoConfigFileError,
    NoExperimentsLeftException,
    ParameterCombinationError,
    SshTunnelError,
    TableHasWrongStructureError,
)
from .experiment_status import ExperimentStatus
from .frames import pyexperimenter_frame
from .result_processor import ResultProcessor
from .running import ExperimentFunction, NativeResultProcessor, RunMixin
from .utils import CODECARBON_COLUMNS, combine_fill_table_parameters

if TYPE_CHECKING:
    import pandas as pd

_warned_codecarbon = False


def _warn_codecarbon(logger: logging.Logger) -> None:
    """Once per process: tracking needs CodeCarbon, which is optional; the run goes on."""
    global _warned_codecarbon
    if not _warned_codecarbon:
        _warned_codecarbon = True
        logger.warning("use_codecarbon=True: CodeCarbon is not installed (pip install 'pyexperimenter[codecarbon]'); "
                       "experiments run untracked (pass use_codecarbon=False to silence this)")


def _logger(logger_name: str, log_level: int | str, log_file: str | None) -> logging.Logger:
    """PyExperimenter's logger: a console and a file handler, added only when the logger is new."""
    new = logger_name not in logging.root.manager.loggerDict
    logger = logging.getLogger(logger_name)
    logger.setLevel(log_level)
    if new:
        formatter = logging.Formatter("%(asctime)s  | %(name)s - %(levelname)-8s | %(message)s")
        handlers: list[logging.Handler] = [logging.StreamHandler()]
        if log_file:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(log_file))
        for handler in handlers:
            handler.setFormatter(formatter)
            logger.addHandler(handler)
    return logger


@contextmanager
def _pyexperimenter_errors(bad_input: type[Exception], caught: type[InputError] = InputError) -> Iterator[None]:
    """Our errors under 1.4.2's names: a table that does not fit, a tunnel that does not open,
    and other bad input of class `caught` as `bad_input` (what 1.4.2 raised at that call). An
    unreachable database stays as it is."""
    try:
        yield
    except TableMismatch as e:
        raise TableHasWrongStructureError(str(e)) from e
    except SshTunnelError:
        raise
    except TunnelError as e:
        raise SshTunnelError(str(e)) from e
    except DatabaseUnavailable:
        raise
    except caught as e:
        raise bad_input(str(e)) from e


class PyExperimenter(RunMixin, Experimenter):
    """The object PyExperimenter 1.4 users build; only their import changes."""

    def __init__(
        self,
        experiment_configuration_file_path: str = os.path.join("config", "experiment_configuration.yml"),
        database_credential_file_path: str | None = os.path.join("config", "database_credentials.yml"),
        use_ssh_tunnel: bool | None = None,
        table_name: str | None = None,
        database_name: str | None = None,
        use_codecarbon: bool = True,
        name: str = "PyExperimenter",
        logger_name: str = "py-experimenter",
        log_level: int | str = logging.INFO,
        log_file: str | None = "./logs/py-experimenter.log",
    ):
        self.logger_name, self.log_file = logger_name, log_file
        self.logger = _logger(logger_name, log_level, log_file)
        self.name = name
        self.use_codecarbon = use_codecarbon
        self.experiment_configuration_file_path = experiment_configuration_file_path
        self.database_credential_file_path = database_credential_file_path
        if not Path(experiment_configuration_file_path).is_file():
            raise NoConfigFileError(f"Configuration file missing! Please add file: {experiment_configuration_file_path}")
        creds = database_credential_file_path
        if creds is not None and not Path(creds).is_file():
            creds = None  # fall back to the credentials file next to the config
        try:
            config = load_config(experiment_configuration_file_path, credentials_path=creds, use_ssh=use_ssh_tunnel)
        except SshSectionError as e:
            raise SshTunnelError(str(e)) from e
        except ConfigError as e:
            raise InvalidConfigError(str(e)) from e
        config = self._tunnel_choice(config, use_ssh_tunnel, legacy_credentials_file(Path(experiment_configuration_file_path), creds))
        config = replace(config, experimenter_name=name, codecarbon=use_codecarbon,
                         **self._overrides(config, table_name, database_name))
        legacy = self._legacy_config(experiment_configuration_file_path, config, use_ssh_tunnel, database_name)
        config = PyExperimenterConfig.of(config, legacy)
        if use_codecarbon and not tracking.available():
            _warn_codecarbon(self.logger)
        super().__init__(config)
        self.config: PyExperimenterConfig = config
        kind = DatabaseConnectorLITE if config.database.kind == "sqlite" else DatabaseConnectorMYSQL
        self.db_connector: DatabaseConnector = kind.of(self, legacy.database_configuration)
        if config.database.ssh is not None:  # 1.4.2 opens the tunnel here: its errors surface here
            with _pyexperimenter_errors(SshTunnelError):
                tunnel.endpoint(config.database.ssh)
        if config.database.kind == "sqlite" and config.database.path is not None:
            sqlite3.connect(config.database.path).close()  # PyExperimenter creates the file at once
        self.logger.info("Initialized and connected to database")

    def _legacy_config(self, path: str, config: ExperimentConfig, use_ssh_tunnel: bool | None,
                       database_name: str | None) -> PyExperimenterCfg:
        """1.4.2's description of the same file, with the constructor's overrides applied as
        1.4.2 applies them."""
        legacy = PyExperimenterCfg.extract_config(path, self.logger)
        db = legacy.database_configuration
        if db.table_name != config.name:  # our log tables follow the table name given
            db.logtables = {f"{config.name}__{name.split('__', 1)[1]}": cols for name, cols in db.logtables.items()}
        db.table_name = config.name
        if database_name is not None:
            db.database_name = database_name
        if use_ssh_tunnel is not None:
            db.use_ssh_tunnel = use_ssh_tunnel
        return legacy

    def result_processor(self, processor: NativeResultProcessor) -> ResultProcessor:
        return ResultProcessor.of(processor, self.config.database_configuration, self.db_connector, self.logger)

    def close(self) -> None:
        """Also the connector's own connection: workers fork after this, and none is shared."""
        self.db_connector.close()
        super().close()

    @staticmethod
    def _overrides(config: Any, table_name: str | None, database_name: str | None) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if table_name is not None:
            if not is_identifier(table_name):
                raise InvalidConfigError(f"table_name: must match [A-Za-z_][A-Za-z0-9_]{{0,63}}, got {table_name!r}")
            changes["name"] = table_name
        if database_name is not None:
            if not is_identifier(database_name):
                raise InvalidConfigError(f"database_name: must match [A-Za-z_][A-Za-z0-9_]{{0,63}}, got {database_name!r}")
            db = config.database
            if db.kind == "sqlite":
                db = replace(db, path=(Path.cwd() / f"{database_name}.db").resolve())
            else:
                db = replace(db, database=database_name)
            changes["database"] = db
        return changes

    @staticmethod
    def _tunnel_choice(config: ExperimentConfig, use_ssh_tunnel: bool | None, credentials: Path) -> ExperimentConfig:
        """1.4.2's rule: the argument decides when given, else the config's `use_ssh`;
        SQLite ignores both."""
        db = config.database
        if db.kind != "mysql" or use_ssh_tunnel is None:
            return config
        if not use_ssh_tunnel:
            return config.with_database(replace(db, ssh=None))
        if db.ssh is not None:
            return config
        try:
            return config.with_database(replace(db, ssh=legacy_ssh(credentials)))
        except ConfigError as e:
            raise SshTunnelError(str(e)) from e

    def close_ssh(self) -> None:
        """Stops this process's tunnel, after closing the connections through it; a later
        call that needs the database opens a new one (1.4.2 kept working after it, too)."""
        ssh = self.config.database.ssh
        if ssh is None:
            self.logger.warning("No ssh tunnel to close")
            return
        self.close()
        if tunnel.close(ssh):
            self.logger.info("SSH tunnel closed")

    # --- tables and filling
    def create_table(self, create_database: bool = False) -> None:
        try:
            self._creating_store()
        except TableMismatch as e:
            raise TableHasWrongStructureError(str(e)) from e
        self.logger.info(f"Table {self.config.name} created.")

    def fill_table_from_config(self, progress: Callable[[int], None] | None = None, priority: int | None = None) -> int:
        if any(k.values == [] for k in self.config.database_configuration.keyfields.values()):
            # A keyfield with `values: []` (filled later by combination): 1.4.2's product is empty.
            raise ParameterCombinationError("No parameter combination found!")
        with _pyexperimenter_errors(EmptyFillDatabaseCallError, ConfigError):
            return super().fill_table_from_config(progress, priority)

    def fill_table_from_combination(  # type: ignore[override]  # PyExperimenter's argument order
        self,
        fixed_parameter_combinations: Sequence[Mapping[str, Any]] | None = None,
        parameters: Mapping[str, Sequence[Any]] | None = None,
    ) -> int:
        rows = combine_fill_table_parameters(list(self.config.parameters), parameters, fixed_parameter_combinations)
        return self.fill_table_with_rows(rows)

    def fill_table_with_rows(self, rows: Any, priority: int | None = None) -> int:
        with _pyexperimenter_errors(ParameterCombinationError):
            return super().fill_table_with_rows(rows, priority)

    # --- running
    def execute(  # type: ignore[override]  # PyExperimenter's argument order
        self,
        experiment_function: ExperimentFunction,
        random_order: bool = False,
        n_jobs: int | None = None,
        max_experiments: int = -1,
    ) -> list[int]:
        """`max_experiments` is a total over all `n_jobs` workers, as in PyExperimenter; when
        fewer than that were open, NoExperimentsLeftException after running them (1.4.2's
        joblib call raised it from the first task that found none; cluster scripts loop on it)."""
        import multiprocessing

        started = multiprocessing.get_context("fork").Value("i", 0)
        fn = self._wrapped(experiment_function, started)  # a function object, run as given: no code snapshot
        jobs = n_jobs or self.config.n_jobs
        self.db_connector.close()
        if max_experiments is None or max_experiments < 0:
            codes = super().execute(fn, max_experiments=-1, random_order=random_order, n_jobs=jobs, snapshot=False)
        elif max_experiments == 0:
            codes = []
        else:
            workers = min(jobs, max_experiments)
            each, rest = divmod(max_experiments, workers)
            codes = super().execute(fn, max_experiments=each, random_order=random_order, n_jobs=workers, snapshot=False)
            if rest:
                codes += super().execute(fn, max_experiments=1, random_order=random_order, n_jobs=rest, snapshot=False)
            if started.value < max_experiments:
                raise NoExperimentsLeftException("No experiments left to execute")
        self.logger.info("All configured executions finished.")
        return codes

    # --- maintenance and reading
    def reset_experiments(self, *states: str, ids: Sequence[int] | None = None, where: Sequence[str] = ()) -> int:
        states = tuple(getattr(s, "value", s) for s in states)
        if not states and ids is None:
            self.logger.warning("No states given to reset experiments. No experiments are reset.")
            return 0
        gone = self._rows_in(states) if ids is None and not where else []
        n = super().reset_experiments(*states, ids=ids, where=where)
        if gone:  # 1.4.2 deleted the rows and their log rows went with them (ON DELETE CASCADE)
            self.db_connector.delete_logs(gone)
        self.logger.info(f"{n} experiments with status {' '.join(states)} were reset")
        return n

    def _rows_in(self, states: Sequence[str]) -> list[int]:
        if not self.config.logtables:
            return []
        try:
            store = self.store
        except InputError:  # no table yet: nothing to reset
            return []
        if ExperimentStatus.ALL.value in states:
            return store.ids(store.filter([]))
        return [i for state in states for i in store.ids(store.filter([f"status={state}"]))]

    def delete_table(self) -> None:
        """Drops the tables; like PyExperimenter, nothing to drop is no error."""
        try:
            super().delete_table()
        except TableMismatch:
            raise
        except InputError:
            if self.config.database.kind != "sqlite":
                raise

    def get_table(self, keep_internal: bool = False, where: Sequence[str] = (), columns: Sequence[str] = (),
                  condition: str | None = None) -> pd.DataFrame:
        """`condition` (PyExperimenter's development branch, used by its dashboard) is the
        user's SQL text after `SELECT * FROM <table>`, e.g. "WHERE status = 'error'", sent as
        written; "" or None is every row."""
        frame = pyexperimenter_frame(super().get_table(keep_internal, where, columns), self.config)
        if condition and condition.strip():
            _, ids = self.db_connector.ids_with_condition(condition)
            frame = frame[frame["ID"].isin(ids)].reset_index(drop=True)
        return frame

    def execute_custom_query(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """The user's own statement on the experiment's database, as written, `params` bound by
        the driver (`?` on SQLite, `%s` on MariaDB); its rows as a DataFrame (empty for a
        statement that returns none). Not fenced: PyExperimenter's development branch's call,
        for dashboards and ad-hoc reports."""
        import pandas as pd

        names, rows = self.db_connector.run([(query, None if params is None else tuple(params))])[0]
        return pd.DataFrame([list(r) for r in rows], columns=names)

    def get_logtable(self, logtable_name: str) -> pd.DataFrame:  # PyExperimenter names it logtable_name
        if logtable_name not in self.config.logtables:
            raise MissingLogTableError(f"unknown logtable {logtable_name!r}; expected one of {sorted(self.config.logtables)}")
        return pyexperimenter_frame(super().get_logtable(logtable_name), self.config, self.config.logtables[logtable_name])

    def get_codecarbon_table(self) -> pd.DataFrame:
        """One row per tracked run (none while CodeCarbon is not installed), 1.4.2's columns."""
        import pandas as pd

        if not self.use_codecarbon:
            raise ValueError("CodeCarbon is not used in this experiment.")
        store = self._creating_store()
        frame = table_frame(store.rows(store.schema.codecarbon_table))
        if frame.empty:
            return pd.DataFrame(columns=["ID", "experiment_id", *CODECARBON_COLUMNS])
        frame["offline_mode"] = frame["offline_mode"].map(lambda v: None if v is None else int(v))
        return frame


# 1.4.2's experimenter module imports these, and scripts import (and tests patch) them there.
__all__ = ["DatabaseConnectorLITE", "DatabaseConnectorMYSQL", "ExperimentStatus", "PyExperimenter", "ResultProcessor"]
