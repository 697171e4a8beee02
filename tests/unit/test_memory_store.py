"""The in-memory store keeps the promises of the real ones that unit tests rely on: fencing
by claim token, retried writes that landed, lost runs by its clock, the attempt history.
(The same promises on SQLite and MariaDB: tests/integration/test_contract.py.)"""

from __future__ import annotations

import pytest

from pyexperimenter.errors import InputError
from pyexperimenter.sqltypes import parse_sql_type
from pyexperimenter.store import TableSchema, WorkerIdentity
from pyexperimenter.store.memory import MemoryStore

WHO = WorkerIdentity("w", "h", 1)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    schema = TableSchema("exp", {"x": parse_sql_type("INT")}, {"value": parse_sql_type("DOUBLE")},
                         {"steps": {"step": parse_sql_type("INT")}})
    store = MemoryStore(schema, clock=clock)
    with pytest.raises(InputError, match="does not exist"):
        store.counts()
    store.create()
    assert store.insert_missing({"x": x} for x in [0, 1, 2, 3, 1.0]) == 4
    return store


def test_a_retried_finish_or_fail_reports_what_landed(store: MemoryStore) -> None:
    a, b = store.claim(WHO, 2)
    assert store.finish(a.token, [(a.id, {"value": 1.0})]) == {a.id}
    assert store.finish(a.token, [(a.id, {"value": 2.0})]) == {a.id}  # landed before; unchanged
    assert store.rows(where={"ID": a.id})[0]["value"] == 1.0
    assert store.fail(b.token, b.id, "boom", max_attempts=3)
    assert store.fail(b.token, b.id, "boom", max_attempts=3)
    assert store.rows(where={"ID": b.id})[0]["attempts"] == 1
    with pytest.raises(KeyError):
        store.finish(a.token, [(a.id, {"nope": 1})])


def test_lost_runs_follow_the_clock_and_the_retry_delay(store: MemoryStore, clock: Clock) -> None:
    [first] = store.claim(WHO, 1)
    clock.now += 10
    assert store.counts(5)["stale"] == 1 and store.query("running", stale_after_seconds=5)[0]["stale"]
    assert store.requeue_stale(5, max_attempts=3, retry_delay_seconds=30) == 1
    assert store.requeue_stale(5, max_attempts=3) == 0
    assert store.heartbeat(first.token) == 0
    assert first.id not in {c.id for c in store.claim(WHO, 4)}
    clock.now += 31
    [again] = store.claim(WHO, 1)
    assert again.id == first.id and again.attempt == 2
    history = [a["outcome"] for a in store.rows(store.schema.attempts_table) if a["experiment_id"] == first.id]
    assert history == ["lost", "running"]


def test_release_gives_the_attempt_back_and_fences_later_writes(store: MemoryStore) -> None:
    claims = store.claim(WHO, 3)
    token = claims[0].token
    assert store.release(token, [c.id for c in claims]) == 3
    assert store.counts()["created"] == 4
    assert {r["attempts"] for r in store.rows()} == {0}
    assert not store.write_results(token, claims[0].id, {"value": 1.0})
    assert not store.write_logs(token, claims[0].id, {"steps": {"step": 1}})
    assert store.finish(token, [(claims[0].id, {})]) == set()


def test_reset_closes_running_attempts_and_drops_logs(store: MemoryStore) -> None:
    [claim] = store.claim(WHO, 1)
    assert store.write_logs(claim.token, claim.id, {"steps": {"step": 1}})
    assert store.reset(["running"]) == 1
    assert store.rows("exp__steps") == []
    assert [a["outcome"] for a in store.rows(store.schema.attempts_table)] == ["reset"]
    with pytest.raises(InputError, match="unknown table"):
        store.rows("other")


def test_the_sweeper_lock_is_the_one_workers_to_take_again(store: MemoryStore) -> None:
    assert store.try_sweeper_lock() and store.try_sweeper_lock() and store.sweeper
    store.release_sweeper_lock()
    assert not store.sweeper
    store.drop()
    assert not store.exists()


def test_claims_follow_priority_and_where_as_the_sql_stores_do(store: MemoryStore) -> None:
    store.insert_missing([{"x": 10}, {"x": 11}], priority=5)
    assert [c.parameters["x"] for c in store.claim(WHO, 3)] == [10, 11, 0]  # higher priority first
    where = store.filter([("x", "<", "3")])
    assert [c.parameters["x"] for c in store.claim(WHO, 5, where=where)] == [1, 2]
    assert store.counts(where=store.filter([("x", "!=", "1")]))["running"] == 4  # 10, 11, 0, 2
    assert store.ids(store.filter([("priority", ">=", "5")])) == [5, 6]
    assert store.reset(["running"], where=where) == 3
