"""PyExperimenter 1.4's `db_connector`: the connector object users reach into.

Scripts written for 1.4.2 read `experimenter.db_connector.database_configuration`, check
which rows exist with `_get_existing_rows`, select rows with their own `WHERE ...`, and write
logtable rows in bulk with `prepare_write_query` + `execute_queries`. Each of those works here
over our store: writes of experiments' results and statuses stay fenced in our worker, while
the calls that take the user's own SQL text send it as written (the store's `run_user_sql`),
values bound by the driver, unfenced - it is their database and their statement, as in 1.4.2.
Scripts (1.4.2's own tests, CARP-S's reset script) also drive the driver themselves:
`connect()` gives a connection of their own (the store's `user_connection`, never one the
store uses), and `cursor`, `execute`, `fetchall`, `commit`, `close_connection` work on it.

What 1.4.2 exposed but cannot be honoured without going round the store's claims (the claim,
insert and DDL internals) raises UnsupportedInternalError, which names the call and what to
use instead (docs/migrating.md lists them).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseUnavailable, InputError
from ..store import Store, open_store
from ..store.sql.user import user_text
from .config import DatabaseCfg
from .exceptions import DatabaseConnectionError, EmptyFillDatabaseCallError, UnsupportedInternalError

if TYPE_CHECKING:
    import pandas as pd

PyExperimenter = Any  # the owner (compat/experimenter.py, which imports this module)

UNSUPPORTED: dict[str, str] = {
    "update_database": "result_processor.process_results(...) inside the experiment function",
    "_write_to_database": "experimenter.fill_table_with_rows(rows)", "add_experiment": "experimenter.add_experiment_and_execute",
    "get_experiment_configuration": "experimenter.execute(fn, max_experiments=1)",
    "_pull_open_experiment": "experimenter.execute(fn, max_experiments=1)",
    "_select_open_experiments_from_db": "experimenter.execute(fn, max_experiments=1)",
    "pull_paused_experiment": "experimenter.unpause_experiment(id, fn)",
    "_pop_experiments_with_status": "experimenter.reset_experiments(status)",
    "_create_table": "experimenter.create_table()", "_table_exists": "experimenter.create_table()",
    "_table_has_correct_structure": "experimenter.create_table() (raises TableHasWrongStructureError)",
    "_create_database_if_not_existing": "experimenter.create_table()",
    "start_ssh_tunnel": "PyExperimenter(use_ssh_tunnel=True)", "get_ssh_tunnel": "PyExperimenter(use_ssh_tunnel=True)",
    "close_ssh_tunnel": "experimenter.close_ssh()", "_get_database_credentials": "the credentials file itself",
}


@contextlib.contextmanager
def _driver(doing: str) -> Iterator[None]:
    """A driver error on the caller's own connection as 1.4.2 raised it: DatabaseConnectionError
    with the driver's text and what was being done."""
    try:
        yield
    except Exception as e:
        raise DatabaseConnectionError(f"error \n{e}\n raised when {doing}.") from e


class DatabaseConnector:
    """The connector of one PyExperimenter; made by it, never by hand (1.4.2's constructor
    opened its own connections from a config object, which ours does not use)."""

    _prepared_statement_placeholder = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsupportedInternalError(
            f"{type(self).__name__}(...) is made by PyExperimenter: use PyExperimenter(...).db_connector")

    @classmethod
    def of(cls, experimenter: PyExperimenter, database_configuration: DatabaseCfg) -> DatabaseConnector:
        connector = cls.__new__(cls)
        connector.experimenter = experimenter
        connector.database_configuration = database_configuration
        connector.logger = experimenter.logger
        connector.use_codecarbon = experimenter.use_codecarbon
        connector.user_store = None
        return connector

    experimenter: PyExperimenter
    database_configuration: DatabaseCfg
    logger: logging.Logger
    use_codecarbon: bool
    user_store: Store | None

    def _check_combination_in_existing_rows(self, combination: Mapping[str, Any],
                                            existing_rows: Sequence[Mapping[str, Any]]) -> bool:
        """1.4.2's duplicate test of a fill, kept for scripts that dedupe their own rows first."""
        return combination in existing_rows

    # --- a connection of the caller's own, as 1.4.2's connector handed out
    def connect(self) -> Any:
        """A new sqlite3 or pymysql connection to the experiment's database, from the same
        settings the store uses (credentials, tunnel); the caller closes it. Not the store's:
        what runs on it is the caller's SQL, unfenced. In autocommit, unlike 1.4.2's: its
        scripts leave connections open after a SELECT, which would hold the table's locks
        against our workers' index creation and `delete_table` (1.4.2 made no DDL after
        the table); `commit` is then harmless, and BEGIN still opens a transaction."""
        try:
            return self.sql_store().user_connection()
        except (InputError, DatabaseUnavailable):
            raise
        except Exception as e:
            raise DatabaseConnectionError(e) from e

    def _test_connection(self) -> None:
        self.close_connection(self.connect())

    def cursor(self, connection: Any) -> Any:
        with _driver("creating cursor"):
            return connection.cursor()

    def execute(self, cursor: Any, sql_statement: str, values: Sequence[Any] | None = None) -> None:
        """The user's statement as written; `values` bound by the driver, as in 1.4.2."""
        with _driver("executing sql statement"):
            if values is None:
                cursor.execute(sql_statement)
            else:
                cursor.execute(sql_statement, values)

    def fetchall(self, cursor: Any) -> Any:
        with _driver("fetching all rows from database"):
            return cursor.fetchall()

    def commit(self, connection: Any) -> None:
        with _driver("committing to database"):
            connection.commit()

    def close_connection(self, connection: Any) -> Any:
        with _driver("closing connection to database"):
            return connection.close()

    def get_structure_from_table(self, cursor: Any) -> list[str]:
        """The table's columns in `SELECT *` order (ours included, after `error`): scripts
        (CARP-S's reset) zip them with the rows of their own `SELECT *` on that cursor."""
        self.execute(cursor, self.sql_store().user_statement(
            "select", self.database_configuration.table_name, condition="WHERE 1 = 0"))
        names = [d[0] for d in cursor.description]
        self.fetchall(cursor)
        return names

    # --- the user's own SQL, as written (store/engine/user_sql.py)
    def sql_store(self) -> Store:
        """A store of our own that does not need the table to exist: 1.4.2 scripts probe
        for the table by catching the driver's "no such table" (SQLite) or 1146 (MariaDB)."""
        if self.user_store is None:
            self.user_store = open_store(self.experimenter.config)
        return self.user_store

    def run(self, statements: Sequence[tuple[str, Sequence[Any] | None]]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
        """1.4.2 wrapped every driver error in DatabaseConnectionError with the driver's text."""
        try:
            return self.sql_store().run_user_sql(statements)
        except (InputError, DatabaseUnavailable, DatabaseConnectionError):
            raise
        except Exception as e:
            raise DatabaseConnectionError(f"error \n{e}\n raised when executing sql statement.") from e

    def prepare_write_query(self, table_name: str, keys: Iterable[str]) -> str:
        return self.sql_store().user_statement("insert", table_name, list(keys))

    def _prepare_update_query(self, table_name: str, values: Iterable[str], condition: str) -> str:
        """1.4.2's UPDATE text (of `values`' keys, `WHERE condition`), which scripts run on a
        cursor of their own with the values bound. Needs no store: 1.4.2's suite calls it on a
        bare object that has only `_prepared_statement_placeholder`."""
        return user_text(self._prepared_statement_placeholder == "%s", "update", table_name, list(values),
                         f"WHERE {condition}")

    def execute_queries(self, queries: Iterable[tuple[str, Iterable[Any]]]) -> None:
        self.run([(query, tuple(values)) for query, values in queries])

    def _get_existing_rows(self, column_names: Sequence[str]) -> list[dict[str, Any]]:
        names, rows = self.run([(self.sql_store().user_statement("select", self.database_configuration.table_name), None)])[0]
        missing = [c for c in column_names if c not in names]
        if missing:
            raise DatabaseConnectionError(f"error \nunknown column(s) {missing} in {self.database_configuration.table_name}\n"
                                          " raised when executing sql statement.")
        at = [names.index(c) for c in column_names]
        return [dict(zip(column_names, (row[i] for i in at))) for row in rows]

    def _get_experiments_with_condition(self, condition: str | None = None) -> tuple[list[str], list[list[Any]]]:
        """The keyfield values of the rows `condition` (the user's text, e.g. "WHERE status =
        'error'") selects, in 1.4.2's shape: (keyfield names, one list of values per row)."""
        table = self.database_configuration.table_name
        names, rows = self.run([(self.sql_store().user_statement("select", table, condition=condition or ""), None)])[0]
        keys = list(self.database_configuration.keyfields)
        at = [names.index(k) for k in keys]
        return keys, [[row[i] for i in at] for row in rows]

    def _delete_experiments_with_condition(self, condition: str | None = None) -> None:
        """Deletes the rows the user's `condition` selects (all without one), as 1.4.2 did;
        scripts pair it with `fill_table` to reset rows matching their own WHERE. A row a worker
        runs now is deleted too: its later writes find no row and are dropped."""
        table = self.database_configuration.table_name
        if self.database_configuration.logtables:  # 1.4.2's ON DELETE CASCADE took their log rows
            _, ids = self.ids_with_condition(condition or "")
            if ids:
                self.delete_logs(ids)
        self.run([(self.sql_store().user_statement("delete", table, condition=condition or ""), None)])

    def delete_logs(self, ids: Sequence[int]) -> None:
        """The log rows of these experiments, in every log table (a reset row starts afresh)."""
        store = self.sql_store()
        chunks = [", ".join(str(int(i)) for i in ids[at:at + 1000]) for at in range(0, len(ids), 1000)]
        self.run([(store.user_statement("delete", name, condition=f"WHERE experiment_id IN ({marks})"), None)
                  for name in self.database_configuration.logtables for marks in chunks])

    def ids_with_condition(self, condition: str) -> tuple[list[str], list[Any]]:
        """The IDs of the rows the user's `condition` text selects (for `get_table(condition=)`)."""
        table = self.database_configuration.table_name
        names, rows = self.run([(self.sql_store().user_statement("select", table, condition=condition), None)])[0]
        at = names.index("ID")
        return names, [row[at] for row in rows]

    # --- the rest, through the experimenter (fenced, as every write of ours)
    def create_table_if_not_existing(self) -> None:
        self.experimenter.create_table()

    def fill_table(self, combinations: Sequence[Mapping[str, Any]]) -> None:
        if len(combinations) == 0:
            raise EmptyFillDatabaseCallError("No combinations to execute found.")
        self.experimenter.fill_table_with_rows(list(combinations))

    def reset_experiments(self, *states: str) -> None:
        self.experimenter.reset_experiments(*states)

    def delete_table(self) -> None:
        self.experimenter.delete_table()

    def get_table(self, table_name: str | None = None) -> pd.DataFrame:
        if table_name is None or table_name == self.database_configuration.table_name:
            return self.experimenter.get_table()
        import pandas as pd

        names, rows = self.run([(self.sql_store().user_statement("select", table_name), None)])[0]
        return pd.DataFrame(rows, columns=names)

    def get_logtable(self, logtable_name: str) -> pd.DataFrame:
        return self.experimenter.get_logtable(logtable_name)

    def get_codecarbon_table(self) -> pd.DataFrame:
        return self.experimenter.get_codecarbon_table()

    def close(self) -> None:
        if self.user_store is not None:
            self.user_store.close()
            self.user_store = None

    @staticmethod
    def random_order_string() -> str:
        return "RANDOM()"

    @staticmethod
    def get_autoincrement() -> str:
        return "AUTOINCREMENT"


def _unsupported(name: str, use: str) -> Any:
    """A stand-in that exists (so `mock.patch.object` finds it) and refuses to run."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise UnsupportedInternalError(f"db_connector.{name} is not available: use {use}")

    refuse.__name__ = name
    refuse.__doc__ = f"Not available here (it would bypass the store's claims): use {use}."
    return refuse


for _name, _use in UNSUPPORTED.items():
    setattr(DatabaseConnector, _name, _unsupported(_name, _use))


class DatabaseConnectorLITE(DatabaseConnector):
    _prepared_statement_placeholder = "?"


class DatabaseConnectorMYSQL(DatabaseConnector):
    _prepared_statement_placeholder = "%s"

    @staticmethod
    def random_order_string() -> str:
        return "RAND()"

    @staticmethod
    def get_autoincrement() -> str:
        return "AUTO_INCREMENT"


__all__ = ["DatabaseConnector", "DatabaseConnectorLITE", "DatabaseConnectorMYSQL"]
