"""The only package that speaks SQL. `open_store` picks the backend from the config.

Floors, each importing only those below it: types.py and port.py (the contract); sql/ (the
statements as text, run by nothing); engine/ (a Session and one module per concern, wired
into a Store by engine/sqlstore.py); backends/ (SQLite, MariaDB, tunnels, timeouts). Nothing
here imports the config: `open_store` reads what it needs of one (types.StoreSettings).
"""

from __future__ import annotations

from .backends import tunnel
from .port import Store
from .types import NO_FILTER, Claim, Filter, StoreSettings, TableSchema, Usage, WorkerIdentity


def schema_of(config: StoreSettings) -> TableSchema:
    return TableSchema(
        name=config.name,
        parameters=dict(config.parameters),
        results=dict(config.results),
        logtables={k: dict(v) for k, v in config.logtables.items()},
        result_timestamps=config.result_timestamps,
        local_timestamps=config.format == "pyexperimenter",
        codecarbon=config.codecarbon,
    )


def open_store(config: StoreSettings, create: bool = False, worker: bool = False) -> Store:
    """Connect to the experiment's database.

    `create` allows creating the SQLite file or the MySQL/PostgreSQL database (only `fill` does).
    `worker` makes the first connection patient, for workers that start while a database
    server restarts; the CLI instead fails fast on an unreachable server.
    """
    schema = schema_of(config)
    db = config.database
    if db.kind == "sqlite":
        from .backends.sqlite import SQLiteStore

        assert db.path is not None
        store: Store = SQLiteStore(schema, db.path, config.experimenter_name, create=create)
    elif db.kind == "postgres":
        from .backends.postgres import PostgresStore
        from .backends.timeouts import ConnectionTimeouts

        if db.server_dir is not None:  # `pyexp-db://DIR`: where and who, from DIR's connection file
            from ..server.connection import settings_for

            db = settings_for(db, wait=600.0 if worker else 60.0)  # while a `--slurm` server starts
        timeouts = ConnectionTimeouts.for_timing(config.heartbeat_seconds, config.stale_after_seconds, worker=worker)
        store = PostgresStore(
            schema, db, config.experimenter_name, create=create, first_connect_patience=120.0 if worker else 5.0,
            timeouts=timeouts,
        )
    else:
        from .backends.mysql import MySQLStore
        from .backends.timeouts import ConnectionTimeouts

        timeouts = ConnectionTimeouts.for_timing(config.heartbeat_seconds, config.stale_after_seconds, worker=worker)
        store = MySQLStore(
            schema, db, config.experimenter_name, create=create, first_connect_patience=120.0 if worker else 5.0,
            timeouts=timeouts,
        )
    store.upgrade()  # a table made by an earlier version gains the columns added since
    return store


__all__ = ["NO_FILTER", "Claim", "Filter", "Store", "TableSchema", "Usage", "WorkerIdentity", "open_store", "schema_of",
           "tunnel"]
