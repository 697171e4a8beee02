"""The memoised fill encoder computes exactly `grid.parameter_hash` and the values a
column's type stores. Pure Python: no database."""

from __future__ import annotations

import datetime
import decimal
import random

from pyexperimenter.params.grid import parameter_hash
from pyexperimenter.sqltypes import parse_sql_type
from pyexperimenter.store.engine.fill import CHECKED_ROWS, RowEncoder

TYPES = {
    n: parse_sql_type(t)
    for n, t in {"f": "DOUBLE", "i": "BIGINT", "s": "VARCHAR(255)", "b": "BOOLEAN", "j": "JSON",
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
