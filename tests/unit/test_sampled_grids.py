"""Sampled domains and sub-grids, from YAML to rows, without a database.

Sampled values must be prefix-stable (value i depends on the seed, the parameter and i
only), so that a refill adds nothing and more samples add only the new values' rows; a
sub-grid's rows leave the parameters it lacks unset (NULL in the table).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyexperimenter.config import load_config
from pyexperimenter.errors import ConfigError
from pyexperimenter.params.sampling import DISTRIBUTIONS, Sampled

UNIFORM_7_X_0 = 0.6836399990662645


def config(tmp_path: Path, **sections: Any) -> Any:
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump({"experiment": {"name": "t"}, **sections}, sort_keys=False))
    return load_config(path)


def rows(tmp_path: Path, **sections: Any) -> list[dict[str, Any]]:
    return list(config(tmp_path, **sections).grid)


def lr(samples: int, seed: int = 7) -> dict[str, Any]:
    return {"distribution": "loguniform", "low": 1e-5, "high": 1e-1, "samples": samples, "seed": seed}


def test_sampled_values_are_prefix_stable_and_seeded(tmp_path: Path) -> None:
    five = [r["lr"] for r in rows(tmp_path, parameters={"lr": lr(5)})]
    ten = [r["lr"] for r in rows(tmp_path, parameters={"lr": lr(10)})]
    assert len(set(five)) == 5 and ten[:5] == five
    assert all(1e-5 <= v <= 1e-1 for v in ten)
    assert [r["lr"] for r in rows(tmp_path, parameters={"lr": lr(5)})] == five  # deterministic
    assert [r["lr"] for r in rows(tmp_path, parameters={"lr": lr(5, seed=8)})] != five


def test_sampled_values_are_the_same_everywhere() -> None:
    """Tables filled elsewhere hold these values: the draw may never change."""
    domain = Sampled("uniform", {"low": 0, "high": 1}, 7, "x")
    assert [domain.draw(i) for i in (3, 0)] == [domain.values(4)[3], domain.values(1)[0]]  # any order
    assert domain.draw(0) == pytest.approx(UNIFORM_7_X_0, abs=1e-15)
    assert Sampled("randint", {"low": 1, "high": 6}, 0, "die").values(8) == [6, 2, 6, 3, 4, 4, 1, 5]


def test_parameters_with_one_seed_draw_independently(tmp_path: Path) -> None:
    got = rows(tmp_path, parameters={"zip": {"a": lr(4), "b": lr(4)}})
    assert [r["a"] for r in got] != [r["b"] for r in got]


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"distribution": "uniform", "low": -1, "high": 1}, lambda v: isinstance(v, float) and -1 <= v <= 1),
        ({"distribution": "normal", "mean": 10, "std": 0.5}, lambda v: isinstance(v, float) and 7 < v < 13),
        ({"distribution": "randint", "low": 3, "high": 5}, lambda v: type(v) is int and 3 <= v <= 5),
        ({"distribution": "choice", "values": ["a", "b"]}, lambda v: v in ("a", "b")),
        ({"distribution": "choice", "values": ["a", "b"], "weights": [0, 1]}, lambda v: v == "b"),
    ],
)
def test_each_distribution(tmp_path: Path, spec: dict[str, Any], check: Any) -> None:
    values = [r["p"] for r in rows(tmp_path, parameters={"p": {**spec, "samples": 40, "seed": 1}})]
    assert len(values) == 40 and all(check(v) for v in values)


def test_distributions_cover_their_range() -> None:
    assert set(Sampled("randint", {"low": 0, "high": 3}, 1, "k").values(200)) == {0, 1, 2, 3}
    draws = Sampled("normal", {"mean": 0, "std": 1}, 1, "z").values(2000)
    mean = sum(draws) / len(draws)
    assert abs(mean) < 0.1 and abs(math.sqrt(sum(d * d for d in draws) / len(draws)) - 1) < 0.1
    logs = [math.log10(v) for v in Sampled("loguniform", {"low": 1e-4, "high": 1.0}, 1, "lr").values(2000)]
    assert sum(v < -2 for v in logs) == pytest.approx(1000, rel=0.1)  # even in log space
    weighted = Sampled("choice", {"values": ["a", "b"], "weights": [1, 3]}, 1, "c").values(2000)
    assert weighted.count("b") == pytest.approx(1500, rel=0.1)
    assert set(DISTRIBUTIONS) == {"uniform", "loguniform", "normal", "randint", "choice"}


def test_sampled_domain_is_crossed_like_a_list_and_zips(tmp_path: Path) -> None:
    got = rows(tmp_path, parameters={"dataset": ["iris", "wine"], "lr": lr(3), "seed": {"start": 0, "stop": 2}})
    assert len(got) == 12 and len({r["lr"] for r in got}) == 3
    zipped = rows(tmp_path, parameters={"zip": {"lr": lr(3), "depth": [1, 2, 3]}, "seed": [0, 1]})
    assert len(zipped) == 6 and len({(r["lr"], r["depth"]) for r in zipped}) == 3


def test_random_block_draws_jointly(tmp_path: Path) -> None:
    block = {"samples": 4, "seed": 3, "lr": {k: v for k, v in lr(0).items() if k not in ("samples", "seed")},
             "dropout": {"distribution": "uniform", "low": 0, "high": 0.5}}
    got = rows(tmp_path, parameters={"random": block, "seed": [0, 1]})
    assert len(got) == 8 and len({(r["lr"], r["dropout"]) for r in got}) == 4
    more = rows(tmp_path, parameters={"random": {**block, "samples": 6}, "seed": [0, 1]})
    assert {(r["lr"], r["dropout"]) for r in got} < {(r["lr"], r["dropout"]) for r in more}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lr": {"distribution": "loguniform", "low": 0, "high": 1, "samples": 2}},
         "parameters.lr.low: expected a number > 0, got 0"),
        ({"lr": {"distribution": "uniform", "low": 0, "high": 1}}, "parameters.lr.samples: is required"),
        ({"lr": {"distribution": "uniform", "low": 0, "high": 1, "samples": 0}},
         "parameters.lr.samples: expected a positive integer, got 0"),
        ({"lr": {"distribution": "beta", "samples": 2}}, "parameters.lr.distribution: expected one of uniform"),
        ({"lr": {"distribution": "uniform", "low": 0, "high": "x", "samples": 2}},
         "parameters.lr.high: expected a number, got 'x'"),
        ({"lr": {"distribution": "uniform", "low": 2, "high": 1, "samples": 2}},
         "parameters.lr.high: expected a number >= low (2), got 1"),
        ({"n": {"distribution": "randint", "low": 0.5, "high": 3, "samples": 2}},
         "parameters.n.low: expected an integer, got 0.5"),
        ({"c": {"distribution": "choice", "values": [1, 2], "weights": [1], "samples": 2}},
         "parameters.c.weights: expected a list of 2 numbers"),
        ({"c": {"distribution": "normal", "mean": 0, "std": 1, "samples": 2, "low": 1}},
         "parameters.c.low: unknown key for distribution normal"),
        ({"random": {"samples": 2, "x": [1, 2]}}, "parameters.random.x: expected a sampled domain"),
        ({"random": {"samples": 2, "x": {"distribution": "uniform", "low": 0, "high": 1, "samples": 3}}},
         "parameters.random.x.samples: unknown key"),
    ],
)
def test_bad_sampled_domains_are_one_line(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, parameters=params)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "experiment.yml"))


def test_sub_grids_union_with_nulls_and_shared_parameters(tmp_path: Path) -> None:
    cfg = config(tmp_path, parameters={"dataset": ["iris", "wine"]}, grids=[
        {"model": "svm", "C": [0.1, 1.0], "zip": {"kernel": ["linear", "rbf"], "gamma": [None, 0.1]}},
        {"model": "forest", "n_estimators": {"distribution": "randint", "low": 10, "high": 500, "samples": 3}},
        {"model": "knn", "dataset": ["digits"], "k": {"start": 1, "stop": 3}},
    ])
    got = list(cfg.grid)
    assert len(cfg.grid) == len(got) == 2 * 2 * 2 + 2 * 3 + 2
    assert list(cfg.parameters) == ["dataset", "model", "C", "kernel", "gamma", "n_estimators", "k"]
    svm = [r for r in got if r["model"] == "svm"]
    assert {(r["C"], r["kernel"]) for r in svm} == {(c, k) for c in (0.1, 1.0) for k in ("linear", "rbf")}
    assert all("n_estimators" not in r and "k" not in r for r in svm)
    knn = [r for r in got if r["model"] == "knn"]
    assert [(r["dataset"], r["k"]) for r in knn] == [("digits", 1), ("digits", 2)]  # replaces the shared list
    assert cfg.parameters["n_estimators"].kind == "int"


def test_sub_grids_without_parameters_section(tmp_path: Path) -> None:
    got = rows(tmp_path, grids=[{"a": [1, 2]}, {"b": ["x"]}])
    assert got == [{"a": 1}, {"a": 2}, {"b": "x"}]


@pytest.mark.parametrize(
    ("grids", "kind"),
    [
        ([{"C": [1, 2]}, {"C": [0.5]}], "float"),  # inferred numbers widen
        ([{"g": [None]}, {"g": [0.1]}], "float"),  # nulls only take the other's type
        ([{"g": {"values": [1], "type": "FLOAT"}}, {"g": [2]}], "float"),  # a given type wins
    ],
)
def test_sub_grid_types_agree(tmp_path: Path, grids: list[Any], kind: str) -> None:
    assert config(tmp_path, grids=grids).parameters[next(iter(grids[0]))].kind == kind


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"grids": [{"C": [1, 2]}, {"C": ["a"]}]}, "grids[1].C: expected the type it has in grids[0].C (BIGINT)"),
        ({"grids": [{"C": {"values": [1], "type": "INT"}}, {"C": {"values": [1], "type": "FLOAT"}}]},
         "grids[1].C: expected the type it has in grids[0].C (INT)"),
        ({"grids": []}, "grids: expected a list of grids"),
        ({"grids": {"a": [1]}}, "grids: expected a list of grids"),
        ({"grids": [{}]}, "grids[0]: expected a mapping of parameters"),
        ({"grids": [{"a": [1], "zip": {"a": [2]}}]}, "grids[0].zip.a: parameter is listed twice"),
        ({"grids": [{"a": []}]}, "grids[0].a: expected a non-empty list"),
    ],
)
def test_bad_sub_grids_are_one_line(tmp_path: Path, sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, **sections)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_init_template_sub_grid_loads_when_uncommented(tmp_path: Path) -> None:
    from importlib.resources import files

    text = (files("pyexperimenter") / "templates" / "experiment.yml").read_text()
    lines = text.splitlines()
    start = lines.index("# grids:                            # sub-grids: each is crossed with `parameters:`, their union is")
    block = [line[2:] for line in lines[start:start + 4]]
    (tmp_path / "experiment.yml").write_text("\n".join([*lines[:start], *block, *lines[start + 4:]]) + "\n")
    cfg = load_config(tmp_path / "experiment.yml")
    got = list(cfg.grid)
    assert len(got) == 3 * 5 * (1 + 3)  # samples x seeds x (uniform + 3 stratified strata)
    assert {r["method"] for r in got if "strata" not in r} == {"uniform"}
    assert all(4 <= r["strata"] <= 64 for r in got if r["method"] == "stratified")
