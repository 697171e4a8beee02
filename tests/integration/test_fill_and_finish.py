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
    store.session.transaction(lambda cur: store.session.execute(cur, f"UPDATE {store.t} SET pyexp_token = 'other' WHERE ID = ?", (ids[1],)))
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


def test_numpy_scalars_and_decimals_are_stored_as_their_values(make_config: ConfigMaker) -> None:
    """Metrics often come back as np.float32/np.int64/np.bool_ or Decimal: each lands as the
    number it holds (sqlite3 would bind a numpy scalar's raw bytes as a BLOB, unreadable
    afterwards, and refuse a Decimal), in results and in log rows alike."""
    import numpy as np
    from experiments import typed_results

    results = {"f32": "FLOAT", "i64": "INT", "flag": "BOOLEAN", "exact": "DECIMAL(10,4)", "fdec": "DOUBLE", "label": "VARCHAR(20)"}
    exp = Experimenter(make_config(parameters={"x": [1, 2]}, results=results,
                                   logtables={"steps": {"step": "INT", "loss": "FLOAT"}}))
    assert exp.fill_table_from_config() == 2
    assert exp.execute(typed_results) == [0]
    table = exp.get_table().sort_values("x")
    assert list(table["status"]) == ["done", "done"], table["error"].tolist()
    assert list(table["f32"]) == [0.5, 1.0] and list(table["i64"]) == [3, 6]
    assert list(table["flag"]) == [1, 0] or list(table["flag"]) == [True, False]
    assert list(table["exact"]) == [0.1234, 0.2468] and list(table["fdec"]) == [1.5, 3.0]
    assert list(table["label"]) == ["1.25", "2.50"]
    logs = exp.get_logtable("steps").sort_values("step")
    assert list(logs["step"]) == [1, 2] and list(logs["loss"]) == [0.25, 0.5]
    assert np.issubdtype(table["exact"].dtype, np.floating)
    exp.close()
