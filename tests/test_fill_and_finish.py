"""The fast paths keep their meaning: the memoised fill encoder computes exactly
`grid.parameter_hash`, fills keep grid order and stay idempotent (also when a grid grows),
and a batch finished by one UPDATE is still fenced row by row, on SQLite and MariaDB."""

from __future__ import annotations

import datetime
import decimal
import random

from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.grid import parameter_hash
from pyexperimenter.sqltypes import parse_sql_type
from pyexperimenter.store import WorkerIdentity
from pyexperimenter.store.fill import CHECKED_ROWS, RowEncoder

TYPES = {
    n: parse_sql_type(t)
    for n, t in {"f": "DOUBLE", "i": "INT", "s": "VARCHAR(255)", "b": "BOOLEAN", "j": "JSON",
                 "d": "DECIMAL(10,2)", "t": "DATETIME"}.items()
}
VALUES = {
    "f": [0.0, -0.0, 1, 1.0, 0.1, float("nan"), 1e300, True, None],
    "i": [0, 1, -5, 2**40, 1.0, True, None],
    "s": ["", "a'b", 'q"\\', "ünï€", "x\n\0y", "?%s", None, 5],
    "b": [True, False, 0, 1, None],
    "j": [[1, 2], {"b": 1, "a": [1.5, None]}, "str", 3, None, (1, 2)],
    "d": [decimal.Decimal("1.10"), decimal.Decimal("1.1"), "2.5", 3, None],
    "t": [datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.date(2020, 1, 2), "2020-01-01", None],
}


def test_encoder_hash_is_parameter_hash_for_every_kind_of_value() -> None:
    rng = random.Random(6)
    rows = []
    for name, values in VALUES.items():
        for value in values:
            row = {k: rng.choice(v) for k, v in VALUES.items()}
            row[name] = value
            rows.append(row)
    rows *= 3  # memoised values are met again
    rng.shuffle(rows)
    types = {k: v for k, v in TYPES.items() if v is not None}
    encoder = RowEncoder(types)
    encoder._checked = CHECKED_ROWS  # test the fast path itself, not its self-check
    for row in rows:
        values, digest = encoder.encode(row)
        assert digest == parameter_hash(row, types), row
        expected = [types[n].to_db(row.get(n)) for n in types]
        assert [repr(v) for v in values] == [repr(v) for v in expected], row


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
