"""Time passing for a row, without sleeping: a test moves a row's timestamps back, on the
database's own clock, through a plain connection of its own (sqlite3 or pymysql), so the
store under test sees what an hour without a heartbeat would have left."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from pyexperimenter.config import ExperimentConfig
from support.services import mysql_connect, postgres_connect

COLUMNS = ("pyexp_heartbeat", "pyexp_available_at", "start_date")  # the timestamps a test may age
SHORT = {"heartbeat": "pyexp_heartbeat", "available_at": "pyexp_available_at"}  # what tests call them


def age(config: ExperimentConfig, column: str, seconds: float, ids: Sequence[int] | None = None) -> int:
    """Move `column` of the experiment table `seconds` into the past (of rows `ids`, or of
    every row where it is set); returns how many rows changed."""
    column = SHORT.get(column, column)
    assert column in COLUMNS, column
    table, db = config.name, config.database
    which = f" AND ID IN ({', '.join(str(int(i)) for i in ids)})" if ids is not None else ""
    if db.kind == "sqlite":
        assert db.path is not None
        conn = sqlite3.connect(db.path, timeout=30)
        try:
            with conn:
                return conn.execute(
                    f"UPDATE \"{table}\" SET {column} = strftime('%Y-%m-%d %H:%M:%f', {column}, ?) "
                    f"WHERE {column} IS NOT NULL{which}", (f"-{float(seconds)} seconds",)).rowcount
        finally:
            conn.close()
    if db.kind == "postgres":
        with postgres_connect(db.database) as pg:
            return int(pg.execute(f'UPDATE "{table}" SET {column} = {column} - %s * INTERVAL \'1 second\' '
                                  f'WHERE {column} IS NOT NULL{which.replace("ID", chr(34) + "ID" + chr(34))}',
                                  (float(seconds),)).rowcount)
    conn = mysql_connect(db.database)
    try:
        with conn.cursor() as cur:
            return int(cur.execute(f"UPDATE `{table}` SET {column} = {column} - INTERVAL %s SECOND "
                                   f"WHERE {column} IS NOT NULL{which}", (float(seconds),)))
    finally:
        conn.close()
