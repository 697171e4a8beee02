"""The fast paths keep their meaning: fills keep grid order and stay idempotent (also when
a grid grows), and a batch finished by one UPDATE is still fenced row by row, on SQLite and
MariaDB. (The fill encoder's hash: tests/unit/test_fill_encoder.py.)"""

from __future__ import annotations

from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.store import WorkerIdentity


def test_fill_keeps_grid_order_and_adds_only_what_a_grown_grid_lacks(make_config: ConfigMaker) -> None:
    params = {"dataset": ["iris", "it's", "wine"], "seed": {"start": 0, "stop": 4}, "C": [0.5, -0.0, 1e-9]}
    exp = Experimenter(make_config(parameters=params))
    assert exp.fill_table_from_config() == 36
    table = exp.get_table().sort_values("ID")
    expected = [(d, s, c) for d in ["iris", "it's", "wine"] for s in range(4) for c in [0.5, -0.0, 1e-9]]
    assert list(zip(table["dataset"], table["seed"], table["C"])) == expected
    exp.close()
    grown = {**params, "seed": {"start": 0, "stop": 6}}
    exp = Experimenter(make_config(parameters=grown))
    assert exp.fill_table_from_config() == 18
    assert exp.fill_table_from_config() == 0
    table = exp.get_table()
    assert len(table) == 54 and not table.duplicated(["dataset", "seed", "C"]).any()


def test_a_batch_finishes_in_one_statement_and_stays_fenced_row_by_row(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config(results={"value": "DOUBLE", "label": "VARCHAR(64)"}))
    exp.fill_table_from_config()
    store = exp.store
    claims = store.claim(WorkerIdentity.current(), 4)
    token, ids = claims[0].token, [c.id for c in claims]
    # Row ids[1] was declared lost and handed to another worker meanwhile.
    store._transaction(lambda cur: store._execute(cur, f"UPDATE {store.t} SET claim_token = 'other' WHERE ID = ?", (ids[1],)))
    outcomes = [(ids[0], {"value": 0.5, "label": "a'b"}), (ids[1], {"value": 1.5, "label": "lost"}),
                (ids[2], {"value": None, "label": "c"}), (ids[3], {})]
    assert store.finish(token, outcomes) == {ids[0], ids[2], ids[3]}
    # A finish retried after its COMMIT landed reports the same rows, and changes nothing.
    assert store.finish(token, outcomes) == {ids[0], ids[2], ids[3]}
    rows = {r["ID"]: r for r in store.rows()}
    assert [(rows[i]["status"], rows[i]["value"], rows[i]["label"]) for i in ids] == [
        ("done", 0.5, "a'b"), ("running", None, None), ("done", None, "c"), ("done", None, None)]
    attempts = {a["experiment_id"]: a["outcome"] for a in store.rows(store.schema.attempts_table)}
    assert [attempts[i] for i in ids] == ["done", "running", "done", "done"]
