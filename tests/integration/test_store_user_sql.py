"""The store's one door for a user's own SQL (`run_user_sql`, `user_statement`), on SQLite and
a real MariaDB: the text reaches the driver as written, values are bound, and a statement
list is one transaction."""

from __future__ import annotations

import pytest
from support.configs import ConfigMaker

from pyexperimenter import Experimenter


def test_user_sql_is_sent_as_written_with_values_bound(backend: str, make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    store = exp.store
    mark = "?" if backend == "sqlite" else "%s"
    table = store.schema.name
    insert = store.user_statement("insert", "scratch", ["note", "n"])
    assert insert == f"INSERT INTO scratch (note, n) VALUES ({mark},{mark})"
    hostile = "x'); DROP TABLE scratch; --"
    results = store.run_user_sql([
        ("CREATE TABLE scratch (note VARCHAR(100), n INT)", None),
        (insert, (hostile, 1)),
        (insert, ("100%", 2)),
        (f"SELECT note, n FROM scratch WHERE n >= {mark} ORDER BY n", (1,)),
        ("SELECT COUNT(*) AS c FROM scratch WHERE note LIKE '100%'", None),  # a literal %, nothing bound
    ])
    assert results[0] == ([], []) and results[3] == (["note", "n"], [(hostile, 1), ("100%", 2)])
    assert results[4] == (["c"], [(1,)])
    selected = store.run_user_sql([(store.user_statement("select", table, condition="WHERE x = 3"), None)])[0]
    assert "x" in selected[0] and len(selected[1]) == 2  # y = a, b

    with pytest.raises(Exception, match="no_such_column|Unknown column"):
        store.run_user_sql([(store.user_statement("delete", "scratch"), None),
                            ("SELECT no_such_column FROM scratch", None)])
    # the failed list was one transaction: its DELETE did not stay
    assert store.run_user_sql([("SELECT COUNT(*) FROM scratch", None)])[0][1] == [(2,)]
    exp.close()


def test_user_connection_is_the_callers_own(backend: str, make_config: ConfigMaker) -> None:
    """`user_connection` reaches the store's database with the store's settings (SQLite file,
    MariaDB or PostgreSQL server and credentials) as a new driver connection in autocommit:
    a statement lands as it runs, a transaction is the caller's to open (BEGIN, rolled back
    when the connection closes without COMMIT), and a read the caller leaves open holds no
    lock, so the store's DDL (here a DROP) does not wait for it."""
    exp = Experimenter(make_config())
    exp.fill_table_from_config()
    store = exp.store
    mark = "?" if backend == "sqlite" else "%s"
    table = store.schema.name
    store.run_user_sql([("CREATE TABLE scratch (note VARCHAR(100), n INT)", None)])
    conn = store.user_connection()
    assert type(conn).__module__.split(".")[0] == {"sqlite": "sqlite3", "mysql": "pymysql", "postgres": "psycopg"}[backend]
    cur = conn.cursor()
    cur.execute(f"SELECT COUNT(*) FROM {table}")
    assert cur.fetchone()[0] == len(exp.get_table())
    cur.execute(f"INSERT INTO scratch (note, n) VALUES ({mark}, {mark})", ("x'); DROP TABLE scratch; --", 1))
    assert store.run_user_sql([("SELECT note FROM scratch", None)])[0][1] == [("x'); DROP TABLE scratch; --",)]
    cur.execute("BEGIN")
    cur.execute("DELETE FROM scratch")
    conn.close()  # without a COMMIT: the DELETE is rolled back
    assert store.run_user_sql([("SELECT COUNT(*) FROM scratch", None)])[0][1] == [(1,)]

    left_open = store.user_connection()  # a 1.4.2 script's read, never closed
    reader = left_open.cursor()
    reader.execute("SELECT COUNT(*) FROM scratch")
    assert reader.fetchall()
    store.run_user_sql([("DROP TABLE scratch", None)])
    with pytest.raises(Exception, match="scratch"):
        store.run_user_sql([("SELECT COUNT(*) FROM scratch", None)])
    left_open.close()
    assert len(exp.get_table()) > 0
    exp.close()
