"""`pyexp status`'s counters (store/engine/counters.py) against the tables they count, on SQLite and
MariaDB: after workers' claims, finishes, failures and requeues, after edits made by hand in
SQL, after a refill, and when an earlier version's table is seeded while workers run."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
from support.configs import ConfigMaker
from support.services import mysql_connect
from support.tables import without_counters

from pyexperimenter import Experimenter
from pyexperimenter.store import NO_FILTER, WorkerIdentity
from pyexperimenter.store.engine import counters, reports
from pyexperimenter.store.sql.queries import trigger_name
from pyexperimenter.views.status_data import status_report

TRACEBACK = 'Traceback (most recent call last):\n  File "fn.py", line 3, in run\n{}\n'


def counted(exp: Experimenter) -> dict[str, Any]:
    store: Any = exp.store
    found = store.session.transaction(lambda cur: counters.read(store.session, cur, 60))
    assert found is not None, "the counters are not ready"
    return found


def truth(exp: Experimenter) -> dict[str, Any]:
    """What the counters should hold, counted in the tables by plain SQL."""
    store: Any = exp.store
    t, a = store.t, store.q(store.schema.attempts_table)

    def body(cur: Any) -> dict[str, Any]:
        rows = store.session.execute(cur, f"SELECT status, pyexp_error_summary, end_date FROM {t}").fetchall()
        outcomes = store.session.execute(cur, f"SELECT outcome, COUNT(*) FROM {a} GROUP BY outcome").fetchall()
        return {"statuses": Counter(str(r[0]) for r in rows),
                "errors": Counter(r[1] for r in rows if r[0] == "error"),
                "finished": sum(1 for r in rows if r[0] in ("done", "error") and r[2] is not None),
                "outcomes": {str(o): int(n) for o, n in outcomes if n}}

    return store.session.transaction(body)


def assert_counted(exp: Experimenter) -> None:
    found, expected = counted(exp), truth(exp)
    assert found["statuses"] == dict(expected["statuses"])
    assert found["errors"] == dict(expected["errors"])
    assert found["outcomes"] == expected["outcomes"]
    assert sum(found["minutes"].values()) == expected["finished"]  # all finished within the hour


def test_counters_follow_workers_and_hand_edits(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": {"start": 0, "stop": 40}}, experiment={"max_attempts": 2})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 40
    store: Any = exp.store
    me = WorkerIdentity(worker="tester:1", machine="tester", pid=1)
    assert counted(exp)["statuses"] == {"created": 40}

    done = store.claim(me, 10)
    store.finish(done[0].token, [(c.id, {"value": 1.0}) for c in done])
    for message in ["ValueError: odd", "ValueError: odd", "MemoryError", "KeyError: 'a'"]:
        claim = store.claim(me, 1)[0]  # the first failure requeues (max_attempts 2), the second is final
        assert store.fail(claim.token, claim.id, TRACEBACK.format(message), max_attempts=2)
    running = store.claim(me, 3)
    assert_counted(exp)
    status = counted(exp)["statuses"]
    assert status["done"] == 10 and status["running"] == 3 and sum(status.values()) == 40

    exp.reset_experiments("error")
    assert_counted(exp)
    t, a = store.t, store.q(store.schema.attempts_table)
    edits = [f"UPDATE {t} SET status = 'paused' WHERE status = 'created' AND ID % 3 = 0",
             f"UPDATE {t} SET status = 'error', error = 'by hand', pyexp_error_summary = NULL, end_date = NULL "
             "WHERE status = 'created' AND ID % 5 = 0",
             f"UPDATE {t} SET pyexp_error_summary = 'renamed' WHERE status = 'error' AND ID % 2 = 0",
             f"DELETE FROM {t} WHERE status = 'done' AND ID % 2 = 1",
             f"UPDATE {a} SET outcome = 'lost' WHERE outcome = 'running'",
             f"DELETE FROM {a} WHERE outcome = 'failed'"]
    for sql in edits:
        store.session.transaction(lambda cur, sql=sql: store.session.execute(cur, sql))
        assert_counted(exp)
    store.finish(running[0].token, [(c.id, {"value": 2.0}) for c in running])
    assert_counted(exp)

    # status off the counters says what status off the tables says
    fast = status_report(exp)
    scanned = store.session.transaction(lambda cur: reports.scanned(store.session, cur, NO_FILTER, 60, 5))
    assert fast["counts"] == scanned["counts"]
    assert [(g["message"], g["count"], g["example_ids"]) for g in fast["errors"]] == \
        [(g["message"], g["count"], g["example_ids"]) for g in scanned["errors"]]
    assert fast["outcomes"] == {str(r["outcome"]): int(r["n"]) for r in store.attempt_outcomes()}
    exp.close()


def test_more_error_groups_than_status_shows(make_config: ConfigMaker) -> None:
    """Past the 20 groups whose examples status looks up, the groups are counted in the
    table; the view is the same either way."""
    path = make_config(parameters={"x": {"start": 0, "stop": 60}}, experiment={"max_attempts": 1})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store: Any = exp.store
    me = WorkerIdentity(worker="tester:1", machine="tester", pid=1)
    for claim in store.claim(me, 50):
        assert store.fail(claim.token, claim.id, TRACEBACK.format(f"ValueError: {claim.id % 25}"), max_attempts=1)
    assert len(counted(exp)["errors"]) == 25
    fast = status_report(exp)
    scanned = store.session.transaction(lambda cur: reports.scanned(store.session, cur, NO_FILTER, 60, 5))
    assert fast["counts"] == scanned["counts"] and fast["counts"]["error"] == 50
    assert fast["errors"] == scanned["errors"] and len(fast["errors"]) == 25
    exp.close()


def test_a_refill_counts_only_the_new_rows(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": {"start": 0, "stop": 20}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    assert exp.fill_table_from_config() == 0
    assert counted(exp)["statuses"] == {"created": 20}
    exp.close()
    path = make_config(parameters={"x": {"start": 0, "stop": 30}})
    exp = Experimenter(path)
    assert exp.fill_table_from_config() == 10
    assert_counted(exp)
    # a row inserted by hand fires no trigger (inserts are counted by the fill): the next fill counts it
    store: Any = exp.store
    store.session.transaction(lambda cur: store.session.execute(
        cur, f"INSERT INTO {store.t} (x, pyexp_hash, pyexp_rank, pyexp_priority) VALUES (999, '{'f' * 40}', 1, 0)"))
    assert counted(exp)["statuses"] == {"created": 30}
    assert exp.fill_table_from_config() == 0
    assert counted(exp)["statuses"] == {"created": 31}
    assert_counted(exp)
    exp.close()


def test_an_earlier_versions_table_is_seeded_while_workers_run(make_config: ConfigMaker) -> None:
    """The triggers are made, then one statement seeds what the tables hold less what the
    triggers counted meanwhile: workers claiming and finishing all along lose no count."""
    path = make_config(parameters={"x": {"start": 0, "stop": 3000}}, experiment={"max_attempts": 1})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    without_counters(exp)
    assert exp.store.session.transaction(lambda cur: counters.read(exp.store.session, cur, 60)) is None  # type: ignore[attr-defined]
    assert status_report(exp)["counts"]["created"] == 3000  # counted in the table meanwhile
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        worker = Experimenter(path)
        store: Any = worker.store
        me = WorkerIdentity(worker=f"w{n}", machine="tester", pid=n)
        try:
            while not stop.is_set():
                claims = store.claim(me, 2)
                if not claims:
                    return
                time.sleep(0.01)
                if claims[0].id % 7 == 0:
                    store.fail(claims[0].token, claims[0].id, TRACEBACK.format(f"E{claims[0].id % 3}"), max_attempts=1)
                    claims = claims[1:]
                if claims:
                    store.finish(claims[0].token, [(c.id, {"value": 1.0}) for c in claims])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            worker.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    exp.store.create()  # what `pyexp fill` does: makes and seeds the counters, workers running
    time.sleep(0.3)
    in_flight = truth(exp)["statuses"]
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert_counted(exp)
    assert in_flight["done"] > 0 and in_flight["created"] > 0  # the seed met workers at work
    exp.close()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_database_refusing_triggers_leaves_status_counting_the_table(
        make_config: ConfigMaker, mysql_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A cluster's database often grants no TRIGGER privilege: fill still works and warns,
    and status counts the tables."""
    database = mysql_url.rsplit("/", 1)[1]
    user = f"pyexp_notrig_{database[-8:]}"
    admin = mysql_connect()
    cur = admin.cursor()
    cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'pw'")
    cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON `{database}`.* TO '{user}'@'%'")
    try:
        url = mysql_url.replace("://root@", f"://{user}:pw@")
        path = make_config(parameters={"x": {"start": 0, "stop": 12}}, database={"url": url})
        exp = Experimenter(path)
        with caplog.at_level("WARNING"):
            assert exp.fill_table_from_config() == 12
        assert any("refused a trigger" in r.getMessage() for r in caplog.records)
        store: Any = exp.store
        assert store.session.transaction(lambda c: counters.read(store.session, c, 60)) is None
        me = WorkerIdentity(worker="tester:1", machine="tester", pid=1)
        done = store.claim(me, 5)
        store.finish(done[0].token, [(c.id, {"value": 1.0}) for c in done])
        report = status_report(exp)
        assert report["counts"]["done"] == 5 and report["counts"]["created"] == 7
        exp.close()
    finally:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def test_delete_drops_the_counters_and_their_triggers(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": {"start": 0, "stop": 5}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store: Any = exp.store
    triggers = {
        "mysql": "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        "postgres": "SELECT COUNT(*) FROM pg_trigger WHERE NOT tgisinternal",
        "sqlite": "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'",
    }[exp.config.database.kind]

    def state() -> tuple[bool, int]:
        return store.session.transaction(lambda cur: (counters.exists(store.session, cur), store.session.execute(cur, triggers).fetchone()[0]))

    assert state() == (True, 6)  # five counters and summary_on_error
    store.drop()
    assert state() == (False, 0)
    exp.close()


def _version_6_triggers(exp: Experimenter) -> None:
    """The finish's two counter triggers as schema version 6 made them: counting every row."""
    store: Any = exp.store
    names = [trigger_name(store.schema.name, kind) for kind in ("upd", "aupd")]

    def body(cur: Any) -> None:
        for name in names:
            text = store.session.execute(cur, f"SHOW CREATE TRIGGER `{name}`").fetchone()[2]
            old = re.sub(r" AND NOT COALESCE\(@pyexp_counted = CONCAT\([^)]*\), FALSE\)", "", text)
            assert old != text and "@pyexp_counted" not in old
            store.session.execute(cur, re.sub(r"^CREATE DEFINER=\S+ TRIGGER", "CREATE OR REPLACE TRIGGER", old))

    store.session.transaction(body)


def _finish_batches(path: Any, batches: int, size: int) -> None:
    with Experimenter(path) as worker:
        store: Any = worker.store
        me = WorkerIdentity(worker="tester:2", machine="tester", pid=2)
        for _ in range(batches):
            claims = store.claim(me, size)
            rows = [(c.id, {"value": float(c.id)}) for c in claims]
            assert store.finish(claims[0].token, rows) == {c.id for c in claims}
            assert store.finish(claims[0].token, rows) == {c.id for c in claims}  # again: a retry changes none


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_finish_counts_its_own_rows_once(make_config: ConfigMaker) -> None:
    """MariaDB: a finish adds its batch's counts itself and the triggers skip its rows
    (counters.py); a table of version 6 gets the triggers that do so when a store opens it;
    a worker that finds triggers still counting every row leaves the counting to them. In
    each case every row and attempt is counted once, a finish run again (a retry after a lost
    COMMIT reply) adding nothing."""
    path = make_config(parameters={"x": {"start": 0, "stop": 60}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store: Any = exp.store
    assert counters.finish_counts(store.session)
    _finish_batches(path, 2, 10)
    assert_counted(exp)

    _version_6_triggers(exp)  # what a worker of this version may meet before the upgrade ...
    assert not counters.finish_counts(store.session)
    _finish_batches(path, 1, 10)  # ... the triggers count, the finish does not
    assert_counted(exp)

    store.session.transaction(lambda cur: store.session.execute(
        cur, "UPDATE pyexp_schema SET version = 6 WHERE table_name = ?", (store.schema.name,)))
    _finish_batches(path, 2, 10)  # this store opens the table: upgraded to 7, finishes count
    assert counters.finish_counts(store.session)
    assert_counted(exp)
    assert truth(exp)["statuses"]["done"] == 50
    exp.close()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_worker_that_cannot_read_the_triggers_leaves_counting_to_them(
        make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The probe of `finish_counts` once failed in CI (MariaDB: "Error on delete of
    '/tmp/#sql-temptable-...MAI'") and ended the worker, whose two rows then ran twice. A
    failing probe now leaves the counting to the triggers: the worker goes on, every row
    counted once. A missing trigger means the same."""
    import pymysql

    path = make_config(parameters={"x": {"start": 0, "stop": 20}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    with Experimenter(path) as worker:
        session: Any = worker.store.session  # type: ignore[attr-defined]
        real = session.run

        def failing(cur: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "show_trigger":
                raise pymysql.err.InternalError(6, "Error on delete of '/tmp/#sql-temptable-1-2-3.MAI' (Errcode: 2)")
            return real(cur, name, *args, **kwargs)

        monkeypatch.setattr(session, "run", failing)
        me = WorkerIdentity(worker="tester:3", machine="tester", pid=3)
        with caplog.at_level("WARNING"):
            for _ in range(2):
                claims = worker.store.claim(me, 5)
                assert worker.store.finish(claims[0].token, [(c.id, {"value": 1.0}) for c in claims]) == \
                    {c.id for c in claims}
        assert "leaving the counting of finished rows to the triggers: reading them failed" in caplog.text
    assert_counted(exp)
    assert truth(exp)["statuses"]["done"] == 10
    store: Any = exp.store
    assert counters.finish_counts(store.session)  # read as they are: both skip a counting finish's rows
    store.session.transaction(lambda cur: store.session.run(cur, "drop_trigger", trigger_kind="aupd"))
    assert not counters.finish_counts(store.session)
    exp.close()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_paused_row_after_a_counting_finish_of_its_batch_is_counted(make_config: ConfigMaker) -> None:
    """The worker flushes its batch's finished rows, then pauses another row of the same claim
    (PyExperimenter's PAUSED closes the attempt as done). The finish's @pyexp_counted must not
    outlive it: the pause's attempt is counted by its trigger."""
    from pyexperimenter.status import Status

    path = make_config(parameters={"x": {"start": 0, "stop": 6}})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    with Experimenter(path) as worker:
        store: Any = worker.store
        assert counters.finish_counts(store.session)
        claims = store.claim(WorkerIdentity(worker="tester:4", machine="tester", pid=4), 3)
        assert len({c.token for c in claims}) == 1
        assert store.finish(claims[0].token, [(claims[0].id, {"value": 1.0})]) == {claims[0].id}
        assert store.set_status(claims[1].token, claims[1].id, Status.PAUSED, {"value": 2.0})
    assert_counted(exp)
    assert truth(exp)["outcomes"]["done"] == 2
    exp.close()
