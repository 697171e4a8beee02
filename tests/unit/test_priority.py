"""experiment.priority expressions: parsed with a whitelist, evaluated without eval()."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyexperimenter.config import load_config
from pyexperimenter.errors import ConfigError
from pyexperimenter.params.priority import PriorityError, parse_priority

NAMES = ("seed", "dataset", "lr")


@pytest.mark.parametrize(("text", "row", "value"), [
    ("-seed", {"seed": 3}, -3),
    ("10 if dataset == 'iris' else 0", {"dataset": "iris"}, 10),
    ("10 if dataset == 'iris' else 0", {"dataset": "wine"}, 0),
    ("5 * (dataset in ('iris', 'wine')) - seed", {"dataset": "wine", "seed": 2}, 3),
    ("lr * 1000 // 1", {"lr": 0.0125}, 12),
    ("seed is None or seed < 2", {"seed": None}, 1),
    ("not seed and 7", {"seed": 0}, 7),
    ("0 < seed <= 4", {"seed": 4}, 1),
])
def test_expressions(text: str, row: dict[str, object], value: int) -> None:
    assert parse_priority(text, NAMES).of(row) == value


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('true')", "Call is not allowed"),
    ("seed.__class__", "Attribute is not allowed"),
    ("[s for s in seed]", "ListComp is not allowed"),
    ("seed ** 99", "Pow is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("open", "unknown name 'open'"),
    ("seed +", "not an expression"),
])
def test_refused(text: str, message: str) -> None:
    with pytest.raises(PriorityError, match=message):
        parse_priority(text, NAMES)


def test_bad_value_for_a_row() -> None:
    with pytest.raises(PriorityError, match="expected an integer"):
        parse_priority("dataset", NAMES).of({"dataset": "iris"})
    with pytest.raises(PriorityError, match="fails for"):
        parse_priority("seed - 1", NAMES).of({"seed": None})
    with pytest.raises(PriorityError, match="fails for"):
        parse_priority("dataset * 1000000000", NAMES).of({"dataset": "x"})


def test_config_key(tmp_path: Path) -> None:
    path = tmp_path / "e.yml"
    base = {"experiment": {"name": "t"}, "parameters": {"seed": [1, 2]}}
    path.write_text(yaml.safe_dump({**base, "experiment": {"name": "t", "priority": 4}}))
    assert load_config(path).priority == 4
    path.write_text(yaml.safe_dump({**base, "experiment": {"name": "t", "priority": "-seed"}}))
    assert load_config(path).priority.of({"seed": 2}) == -2  # type: ignore[union-attr]
    path.write_text(yaml.safe_dump({**base, "experiment": {"name": "t", "priority": "-sed"}}))
    with pytest.raises(ConfigError, match=r"experiment\.priority: expected an integer or an expression over the "
                                          r"parameters: unknown name 'sed'; expected a parameter \(seed\), got '-sed'"):
        load_config(path)
    path.write_text(yaml.safe_dump({**base, "experiment": {"name": "t", "priority": 1.5}}))
    with pytest.raises(ConfigError, match=r"experiment\.priority: expected int or str, got 1\.5"):
        load_config(path)
