"""The Store contract: one class of tests, run on SQLite and on a real MariaDB.

Its first tests call the store's methods directly (claim, heartbeat, finish, fail,
requeue_stale, counts, reset, ...); the rest drive the same store through Experimenter
and real workers. Each test runs once per database (the `backend` fixture in conftest.py).
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import experiments
import pytest
from support.aging import age
from support.configs import ConfigMaker

from pyexperimenter import Experimenter, Status
from pyexperimenter.errors import InputError
from pyexperimenter.status import ALL_STATUSES
from pyexperimenter.store import Store, WorkerIdentity, open_store


def executions(path: Path) -> Counter[int]:
    if not path.exists():
        return Counter()
    return Counter(int(line.split()[0]) for line in path.read_text().splitlines() if line.strip())


WHO = WorkerIdentity("w", "h", 1)


def _fill(path: str) -> int:
    return Experimenter(path).fill_table_from_config()


def failing_on_odd(parameters: dict, result_processor, custom: dict) -> dict:
    result_processor.process_logs({"steps": {"step": 1, "loss": 0.5}})
    result_processor.process_logs({"steps": {"step": 2, "loss": 0.25}})
    if parameters["x"] % 2:
        raise ValueError(f"odd x {parameters['x']}")
    result_processor.process_results({"label": "early"})
    return {"value": 1.5}


class TestStoreContract:
    """What every Store promises, whatever the database behind it."""

    @pytest.fixture
    def exp(self, make_config: ConfigMaker) -> Iterator[Experimenter]:
        exp = Experimenter(make_config(logtables={"steps": {"step": "INT", "loss": "DOUBLE"}}))
        assert exp.fill_table_from_config() == 20
        yield exp
        exp.close()

    @pytest.fixture
    def store(self, exp: Experimenter) -> Store:
        return exp.store

    # ------------------------------------------------------------------ the store's methods

    def test_insert_missing_adds_only_new_rows(self, store: Store) -> None:
        assert store.exists()
        assert store.insert_missing([{"x": 0, "y": "a"}, {"x": 99, "y": "a"}, {"x": 99, "y": "a"}]) == 1
        assert store.counts() == {**dict.fromkeys(ALL_STATUSES, 0), "created": 21}

    def test_claim_heartbeat_and_finish(self, store: Store) -> None:
        claims = store.claim(WHO, 2)
        assert len(claims) == 2 and len({c.token for c in claims}) == 1
        assert [c.attempt for c in claims] == [1, 1]
        assert all(set(c.parameters) == {"x", "y"} for c in claims)
        token = claims[0].token
        assert store.heartbeat(token) == 2
        assert store.counts()["running"] == 2
        assert store.finish(token, [(c.id, {"value": 1.0, "label": "ok"}) for c in claims]) == {c.id for c in claims}
        assert store.heartbeat(token) == 0  # nothing runs under it any more
        counts = store.counts()
        assert (counts["done"], counts["running"], counts["created"]) == (2, 0, 18)
        rows = {r["ID"]: r for r in store.rows(where={"status": "done"})}
        assert set(rows) == {c.id for c in claims}
        assert all(r["value"] == 1.0 and r["label"] == "ok" and r["pyexp_worker"] == "w" for r in rows.values())
        outcomes = [a["outcome"] for a in store.rows(store.schema.attempts_table)]
        assert outcomes == ["done", "done"]

    def test_fail_requeues_until_max_attempts_then_errors(self, store: Store) -> None:
        [first] = store.claim(WHO, 1)
        assert store.fail(first.token, first.id, "boom 1", max_attempts=2)
        assert store.counts()["created"] == 20
        [second] = store.claim(WHO, 1)
        assert second.id == first.id and second.attempt == 2 and second.token != first.token
        assert store.fail(second.token, second.id, "boom 2", max_attempts=2)
        [row] = store.rows(where={"ID": first.id})
        assert row["status"] == "error" and row["error"] == "boom 2" and row["pyexp_attempts"] == 2
        assert [(g["message"], g["count"], g["example_ids"]) for g in store.error_groups()] == \
            [("boom 2", 1, [first.id])]

    def test_a_retry_delay_keeps_a_failed_row_out_of_claims(self, store: Store) -> None:
        [first] = store.claim(WHO, 1)
        assert store.fail(first.token, first.id, "later", max_attempts=3, retry_delay_seconds=60)
        assert first.id not in {c.id for c in store.claim(WHO, 19)}
        assert store.claim(WHO, 1) == []

    def test_results_and_logs_while_running_and_a_chosen_status(self, store: Store) -> None:
        [claim] = store.claim(WHO, 1)
        assert store.write_results(claim.token, claim.id, {"label": "half-way"})
        assert store.write_logs(claim.token, claim.id, {"steps": {"step": 1, "loss": 0.5}})
        assert store.set_status(claim.token, claim.id, Status.PAUSED, {"value": 2.0})
        [row] = store.rows(where={"ID": claim.id})
        assert (row["status"], row["label"], row["value"]) == ("paused", "half-way", 2.0)
        [log] = store.rows(store.schema.logtable("steps"))
        assert (log["experiment_id"], log["step"], log["loss"]) == (claim.id, 1, 0.5)
        assert not store.write_results(claim.token, claim.id, {"label": "late"})  # no longer running

    def test_output_while_running_and_with_the_closing_write(self, store: Store) -> None:
        store.prepare_output()
        done, failed = store.claim(WHO, 2)

        def attempt(row_id: int) -> dict:
            [found] = store.rows(store.schema.attempts_table, where={"experiment_id": row_id})
            return found

        assert store.attempt_output(done.token, done.id, None, "half-way\n")  # the heartbeat's
        assert (attempt(done.id)["log_file"], attempt(done.id)["log_tail"]) == (None, "half-way\n")
        store.stage_output(done.token, done.id, "/logs/output/1.log", "the end\n")
        store.stage_output(failed.token, failed.id, None, "Traceback\n")
        assert attempt(done.id)["log_tail"] == "half-way\n"  # staged: written with the closing write only
        assert store.finish(done.token, [(done.id, {"value": 1.0})]) == {done.id}
        assert store.fail(failed.token, failed.id, "boom", max_attempts=1)
        assert (attempt(done.id)["log_file"], attempt(done.id)["log_tail"]) == ("/logs/output/1.log", "the end\n")
        assert (attempt(failed.id)["log_file"], attempt(failed.id)["log_tail"]) == (None, "Traceback\n")
        assert not store.attempt_output(done.token, done.id, None, "late\n")  # no longer running
        assert attempt(done.id)["log_tail"] == "the end\n"

    def test_a_launch_is_ended_once_for_everyone(self, store: Store) -> None:
        ids = store.record_launch("slurm", ["4242", "4343"], "login1")
        assert [r["job_id"] for r in store.launches()] == ["4242", "4343"]
        assert not store.launch_ended("4242")
        store.end_launches(ids[:1])
        assert store.launch_ended("4242") and not store.launch_ended("4343") and not store.launch_ended("999")
        assert [r["job_id"] for r in store.launches()] == ["4343"]
        store.reopen_launches(ids[:1])  # a cancel cut short: the next one must find it again
        assert [r["job_id"] for r in store.launches()] == ["4242", "4343"] and not store.launch_ended("4242")

    def test_reset_by_status_and_by_id(self, store: Store) -> None:
        claims = store.claim(WHO, 3)
        token = claims[0].token
        assert store.finish(token, [(claims[0].id, {"value": 1.0})]) == {claims[0].id}
        assert store.fail(token, claims[1].id, "boom", max_attempts=1)
        assert store.reset(["error"]) == 1
        assert store.reset(ids=[]) == 0
        assert store.reset(ids=[claims[0].id]) == 1
        assert store.reset(["all"]) == 20
        counts = store.counts()
        assert counts["created"] == 20 and counts["running"] == 0
        # the history stays: what was running when reset is closed as `reset`
        outcomes = sorted(a["outcome"] for a in store.rows(store.schema.attempts_table))
        assert outcomes == ["done", "failed", "reset"]

    def test_counts_name_every_status_and_lost_runs_only_when_asked(self, store: Store) -> None:
        assert set(store.counts()) == set(ALL_STATUSES)
        assert store.counts(5.0)["stale"] == 0
        store.claim(WHO, 1)
        assert store.counts(5.0)["stale"] == 0 and store.requeue_stale(5.0, max_attempts=3) == 0

    def test_a_retried_finish_or_fail_reports_what_landed(self, store: Store) -> None:
        a, b = store.claim(WHO, 2)
        assert store.finish(a.token, [(a.id, {"value": 1.0})]) == {a.id}
        assert store.finish(a.token, [(a.id, {"value": 2.0})]) == {a.id}  # landed before; unchanged
        assert store.rows(where={"ID": a.id})[0]["value"] == 1.0
        assert store.fail(b.token, b.id, "boom", max_attempts=3)
        assert store.fail(b.token, b.id, "boom", max_attempts=3)
        assert store.rows(where={"ID": b.id})[0]["pyexp_attempts"] == 1
        with pytest.raises(KeyError):  # a result the table has no column for
            store.finish(a.token, [(a.id, {"nope": 1})])

    def test_a_table_not_made_yet_does_not_exist(self, make_config: ConfigMaker) -> None:
        store = open_store(Experimenter(make_config(name="later")).config, create=True)
        try:
            assert not store.exists()
            store.create()
            assert store.exists() and store.counts()["created"] == 0
        finally:
            store.close()

    def test_lost_runs_follow_the_heartbeat_age_and_the_retry_delay(self, exp: Experimenter, store: Store) -> None:
        [first] = store.claim(WHO, 1)
        assert age(exp.config, "heartbeat", 10) == 1  # ten seconds without a beat, on the server's clock
        assert store.counts(5)["stale"] == 1 and store.running(stale_after_seconds=5)[0]["stale"]
        assert store.requeue_stale(5, max_attempts=3, retry_delay_seconds=30) == 1
        assert store.requeue_stale(5, max_attempts=3) == 0
        assert store.heartbeat(first.token) == 0
        assert first.id not in {c.id for c in store.claim(WHO, 4)}
        assert age(exp.config, "available_at", 31, [first.id]) == 1  # the retry delay has passed
        [again] = store.claim(WHO, 1)
        assert again.id == first.id and again.attempt == 2
        history = [a["outcome"] for a in store.rows(store.schema.attempts_table) if a["experiment_id"] == first.id]
        assert history == ["lost", "running"]

    def test_release_gives_the_attempt_back_and_fences_later_writes(self, store: Store) -> None:
        claims = store.claim(WHO, 3)
        token = claims[0].token
        assert store.release(token, [c.id for c in claims]) == 3
        assert store.counts()["created"] == 20
        assert {r["pyexp_attempts"] for r in store.rows()} == {0}
        assert not store.write_results(token, claims[0].id, {"value": 1.0})
        assert not store.write_logs(token, claims[0].id, {"steps": {"step": 1, "loss": 0.5}})
        assert store.finish(token, [(claims[0].id, {})]) == set()

    def test_reset_closes_running_attempts_and_drops_their_logs(self, store: Store) -> None:
        [claim] = store.claim(WHO, 1)
        assert store.write_logs(claim.token, claim.id, {"steps": {"step": 1, "loss": 0.5}})
        assert store.reset(["running"]) == 1
        assert store.rows(store.schema.logtable("steps")) == []
        assert [a["outcome"] for a in store.rows(store.schema.attempts_table)] == ["reset"]
        with pytest.raises(InputError, match="unknown table"):
            store.rows("other")

    def test_one_sweeper_per_table_and_its_holder_may_take_it_again(self, exp: Experimenter, store: Store) -> None:
        other = open_store(exp.config)
        try:
            assert store.try_sweeper_lock() and store.try_sweeper_lock()
            assert not other.try_sweeper_lock()
            store.release_sweeper_lock()
            assert other.try_sweeper_lock()
            other.release_sweeper_lock()
        finally:
            other.close()
        store.drop()
        assert not store.exists()

    def test_claims_follow_priority_then_id_and_where(self, store: Store) -> None:
        store.insert_missing([{"x": 10, "y": "a"}, {"x": 11, "y": "a"}], priority=5)
        first = {c.parameters["x"]: c for c in store.claim(WHO, 3)}
        assert sorted(first) == [0, 10, 11]  # the higher priority first, then the lowest id
        where = store.filter([("x", "<", "3")])
        store.index_filter(where)  # as Experimenter does before its workers claim by it
        assert sorted((c.parameters["x"], c.parameters["y"]) for c in store.claim(WHO, 6, where=where)) == \
            sorted({(x, y) for x in range(3) for y in "ab"} - {(0, first[0].parameters["y"])})
        assert store.counts(where=store.filter([("x", "!=", "1")]))["running"] == 6  # 10, 11 and x 0, 2
        assert store.ids(store.filter([("pyexp_priority", ">=", "5")])) == [first[10].id, first[11].id]
        assert store.reset(["running"], where=where) == 6

    # ------------------------------------------------------------------ through Experimenter and workers

    def test_fill_is_idempotent(self, make_config: ConfigMaker) -> None:
        exp = Experimenter(make_config())
        assert exp.fill_table_from_config() == 20
        assert exp.fill_table_from_config() == 0
        table = exp.get_table()
        assert len(table) == 20
        assert sorted(zip(table["x"], table["y"])) == sorted((x, y) for x in range(10) for y in "ab")
        assert set(table["status"]) == {"created"}
        assert exp.counts()["created"] == 20

    def test_concurrent_fills_never_duplicate(self, make_config: ConfigMaker) -> None:
        path = make_config(parameters={"a": {"start": 0, "stop": 50}, "b": [1, 2, 3, 4, 5]})
        Experimenter(path).fill_table_from_config()  # create the table once; races are on rows
        Experimenter(path).reset_experiments("all")
        with Experimenter(path) as exp:
            exp.delete_table()
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(4) as pool:
            added = pool.map(_fill, [str(path)] * 4)
        assert sum(added) == 250
        table = Experimenter(path).get_table()
        assert len(table) == 250
        assert not table.duplicated(["a", "b"]).any()

    def test_eight_workers_execute_every_row_exactly_once(self, make_config: ConfigMaker, tmp_path: Path) -> None:
        """The default heartbeat and stale limit, not the tests' 1 s and 5 s: with other tests
        beside it, a stall of over five seconds got live workers' rows swept as lost and run
        twice, by design (docs/concepts.md); the sweep is not what this tests."""
        record = tmp_path / "executions.txt"
        path = make_config(
            parameters={"x": {"start": 0, "stop": 250}, "y": ["a", "b"]},
            # 10 ms each: long enough that no single worker drains the table before the rest start
            custom={"record": str(record), "sleep": 0.01},
            experiment={"heartbeat_seconds": 30, "stale_after_seconds": 120},
        )
        exp = Experimenter(path)
        assert exp.fill_table_from_config() == 500
        codes = exp.execute(experiments.recording, n_jobs=8)
        assert codes == [0] * 8
        runs = executions(record)
        assert len(runs) == 500
        assert set(runs.values()) == {1}, [k for k, v in runs.items() if v > 1]
        table = exp.get_table()
        assert (table["status"] == "done").all()
        assert (table["value"] == table["x"] * 2.0).all()
        assert (table["pyexp_attempts"] == 1).all()
        assert table["pyexp_worker"].nunique() > 1  # the work really was shared

    def test_results_logs_errors_and_attempt_history(self, make_config: ConfigMaker) -> None:
        path = make_config(
            experiment={"max_attempts": 2},
            parameters={"x": {"start": 0, "stop": 4}},
            logtables={"steps": {"step": "INT", "loss": "DOUBLE"}},
        )
        exp = Experimenter(path)
        exp.fill_table_from_config()
        exp.execute(failing_on_odd)
        table = exp.get_table().set_index("x")
        assert list(table.loc[[0, 2], "status"]) == ["done", "done"]
        assert list(table.loc[[0, 2], "value"]) == [1.5, 1.5]
        assert list(table.loc[[0, 2], "label"]) == ["early", "early"]
        for x in (1, 3):
            row = table.loc[x]
            assert row["status"] == "error"
            assert row["pyexp_attempts"] == 2  # requeued once, then given up
            assert row["error"].startswith("Traceback (most recent call last):")
            assert f"ValueError: odd x {x}" in row["error"]
            assert "failing_on_odd" in row["error"]
        logs = exp.get_logtable("steps")
        # two log rows per attempt: 2 done rows x 1 attempt + 2 failed rows x 2 attempts
        assert len(logs) == 12
        assert set(logs.columns) >= {"ID", "experiment_id", "timestamp", "step", "loss"}
        attempts = exp.get_attempts()
        assert len(attempts) == 6
        assert Counter(attempts["outcome"]) == {"done": 2, "failed": 4}
        failed = attempts[attempts["outcome"] == "failed"]
        assert failed["error"].str.contains("ValueError: odd x").all()
        assert attempts["end_date"].notna().all()

    def test_reset_keeps_ids_and_clears_results(self, make_config: ConfigMaker) -> None:
        path = make_config(experiment={"max_attempts": 1}, parameters={"x": {"start": 0, "stop": 4}},
                           logtables={"steps": {"step": "INT", "loss": "DOUBLE"}})
        exp = Experimenter(path)
        exp.fill_table_from_config()
        exp.execute(failing_on_odd)
        before = exp.get_table().set_index("ID")
        assert exp.reset_experiments("error") == 2
        after = exp.get_table().set_index("ID")
        assert list(after.index) == list(before.index)
        reset_ids = before.index[before["status"] == "error"]
        assert set(after.loc[reset_ids, "status"]) == {"created"}
        assert after.loc[reset_ids, "error"].isna().all()
        assert after.loc[reset_ids, "value"].isna().all()
        assert (after.loc[reset_ids, "pyexp_attempts"] == 0).all()
        logs = exp.get_logtable("steps")
        assert not set(logs["experiment_id"]) & set(reset_ids)
        assert exp.counts()["done"] == 2

    def test_random_order_claims_everything_once(self, make_config: ConfigMaker, tmp_path: Path) -> None:
        record = tmp_path / "executions.txt"
        exp = Experimenter(make_config(custom={"record": str(record)}))
        exp.fill_table_from_config()
        exp.execute(experiments.recording, random_order=True)
        runs = executions(record)
        assert len(runs) == 20 and set(runs.values()) == {1}
        order = [int(line.split()[0]) for line in record.read_text().splitlines()]
        assert order != sorted(order)

    def test_max_experiments_limits_each_worker(self, make_config: ConfigMaker, tmp_path: Path) -> None:
        record = tmp_path / "executions.txt"
        exp = Experimenter(make_config(custom={"record": str(record)}))
        exp.fill_table_from_config()
        exp.execute(experiments.recording, max_experiments=3)
        assert sum(executions(record).values()) == 3
        assert exp.counts()["done"] == 3 and exp.counts()["created"] == 17

    def test_zombie_results_are_refused(self, make_config: ConfigMaker) -> None:
        """A row requeued as lost and re-claimed: the first worker's late writes are refused."""
        exp = Experimenter(make_config(experiment={"heartbeat_seconds": 0.2, "stale_after_seconds": 0.5}))
        exp.fill_table_from_config()
        store = exp.store
        first = store.claim(WorkerIdentity("zombie", "h", 1), 1)[0]
        time.sleep(1.2)  # no heartbeat: the row is lost by the server's clock
        assert store.requeue_stale(0.5, max_attempts=3) == 1
        assert store.requeue_stale(0.5, max_attempts=3) == 0  # compare-and-set: once only
        second = store.claim(WorkerIdentity("second", "h", 2), 1)[0]
        assert second.id == first.id and second.token != first.token and second.attempt == 2
        assert store.heartbeat(first.token) == 0
        assert not store.write_results(first.token, first.id, {"value": -1.0})
        assert not store.write_logs(first.token, first.id, {}) or True
        assert store.attempt_output(second.token, second.id, None, "second\n")
        assert not store.attempt_output(first.token, first.id, None, "zombie\n")  # its output too
        store.stage_output(first.token, first.id, "/zombie.log", "zombie, staged\n")
        assert store.finish(first.token, [(first.id, {"value": -1.0})]) == set()
        assert not store.fail(first.token, first.id, "late", 3)
        tails = {a["claim_token"]: (a["log_file"], a["log_tail"])
                 for a in store.rows(store.schema.attempts_table, where={"experiment_id": first.id})}
        assert tails == {first.token: (None, None), second.token: (None, "second\n")}
        assert store.finish(second.token, [(second.id, {"value": 42.0})]) == {second.id}
        row = exp.get_table().set_index("ID").loc[first.id]
        assert row["status"] == Status.DONE and row["value"] == 42.0 and row["pyexp_worker"] == "second"
        attempts = exp.get_attempts()
        mine = attempts[attempts["experiment_id"] == first.id].sort_values("attempt")
        assert list(mine["outcome"]) == ["lost", "done"]
        assert "worker lost: no heartbeat since" in mine.iloc[0]["error"]

    def test_counts_report_and_sweep_agree_on_lost_runs(self, make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch) -> None:
        """One definition of a lost run: `counts()["stale"]`, the running report's `stale` flags
        (what `pyexp status` shows as LOST) and `requeue_stale()` agree, also right after a
        server restart, when no run is declared lost yet."""
        exp = Experimenter(make_config(experiment={"heartbeat_seconds": 0.2, "stale_after_seconds": 0.5}))
        exp.fill_table_from_config()
        store = exp.store
        lost = store.claim(WorkerIdentity("lost", "h", 1), 1)[0]
        time.sleep(1.2)  # no heartbeat: the row is lost by the server's clock
        alive = store.claim(WorkerIdentity("alive", "h", 2), 1)[0]

        def seen() -> tuple[int, dict[int, bool]]:
            store.heartbeat(alive.token)
            flags = {int(r["ID"]): r["stale"] for r in store.running(stale_after_seconds=0.5)}
            return store.counts(0.5)["stale"], flags

        # The server has been up for less than the stale limit: nobody could beat meanwhile.
        monkeypatch.setattr(type(store.session), "server_up_seconds", lambda self, cur: 0.1)
        assert seen() == (0, {lost.id: False, alive.id: False})
        assert store.requeue_stale(0.5, max_attempts=3) == 0
        monkeypatch.undo()
        assert seen() == (1, {lost.id: True, alive.id: False})
        assert store.requeue_stale(0.5, max_attempts=3) == 1
        assert seen() == (0, {alive.id: False})

    def test_release_spends_no_attempt(self, make_config: ConfigMaker) -> None:
        exp = Experimenter(make_config())
        exp.fill_table_from_config()
        store = exp.store
        claims = store.claim(WorkerIdentity("w", "h", 1), 3)
        assert len(claims) == 3 and len({c.token for c in claims}) == 1
        assert store.release(claims[0].token, [c.id for c in claims]) == 3
        table = exp.get_table().set_index("ID")
        assert set(table.loc[[c.id for c in claims], "status"]) == {"created"}
        assert set(table.loc[[c.id for c in claims], "pyexp_attempts"]) == {0}
        attempts = exp.get_attempts()
        assert set(attempts["outcome"]) == {"released"}

    def test_parameter_types_round_trip(self, make_config: ConfigMaker) -> None:
        seen: list[dict] = []

        def keep(parameters: dict, rp, custom: dict) -> None:
            seen.append(parameters)

        params = {
            "i": [1, 2],
            "f": {"start": 0.1, "stop": 0.35, "step": 0.1},
            "s": ["a"],
            "b": [True],
            "n": [None, 0.5],
            "mixed": [1, "auto"],
        }
        exp = Experimenter(make_config(parameters=params))
        assert exp.fill_table_from_config() == 2 * 3 * 2 * 2
        exp.execute(keep)
        assert len(seen) == 24
        assert sorted({p["f"] for p in seen}) == [0.1, 0.2, 0.3]
        assert {type(p["i"]) for p in seen} == {int}
        assert {p["b"] for p in seen} == {True}
        assert {p["n"] for p in seen} == {None, 0.5}
        assert {p["mixed"] for p in seen} == {1, "auto"}

    def test_fill_with_rows_and_combinations(self, make_config: ConfigMaker) -> None:
        exp = Experimenter(make_config())
        assert exp.fill_table_with_rows([{"x": 100, "y": "z"}, {"x": 100, "y": "z"}]) == 1
        assert exp.fill_table_from_combination(parameters={"x": [1, 2]}, fixed_parameter_combinations=[{"y": "a"}, {"y": "b"}]) == 4
        assert exp.fill_table_from_config() == 16  # (1,a) (1,b) (2,a) (2,b) were there already
        with pytest.raises(Exception, match="lacks parameter 'y'"):
            exp.fill_table_with_rows([{"x": 1}])
        assert len(exp.get_table()) == 21
