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
    MariaDB or PostgreSQL server and credentials) as a new driver connection: its uncommitted
    writes are invisible to the store, its commits land, and closing it leaves the store working."""
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
    other = store.user_connection()  # not the store: on SQLite it would wait for this writer
    other_cur = other.cursor()
    other_cur.execute("SELECT COUNT(*) FROM scratch")
    assert other_cur.fetchone()[0] == 0  # not committed yet
    other.close()
    conn.commit()
    assert store.run_user_sql([("SELECT note FROM scratch", None)])[0][1] == [("x'); DROP TABLE scratch; --",)]
    cur.execute("DELETE FROM scratch")
    conn.close()  # without a commit: the DELETE is rolled back
    assert store.run_user_sql([("SELECT COUNT(*) FROM scratch", None)])[0][1] == [(1,)]
    assert len(exp.get_table()) > 0
    exp.close()
