"""The report's effect charts choose their x axis from the parameter's values: a log-spaced
parameter (C in 0.1, 1, 10, 100) on a linear axis puts its first values on top of each other."""

from __future__ import annotations

from typing import Any

import pytest

from pyexperimenter.views.html.figures import effect


def chart(values: list[Any]) -> dict[str, Any]:
    points = [{"value": v, "mean": float(i), "error": 0.1, "n": 3} for i, v in enumerate(values)]
    return effect({"result": "accuracy", "parameter": "C", "points": points}, "std", None)


@pytest.mark.parametrize("values", [[0.1, 1, 10, 100], [1e-4, 1e-3, 1e-2, 1e-1], [1, 10, 100],
                                    [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], [16, 32, 64, 128, 256, 512]])
def test_log_spaced_values_get_a_log_axis(values: list[float]) -> None:
    assert chart(values)["layout"]["xaxis"].get("type") == "log"


@pytest.mark.parametrize("values", [[1, 2, 3, 4, 5], [0, 1, 10, 100], [-1, 1, 10, 100], [0.5, 1.0],
                                    [10, 50, 100, 150, 200], [1, 100], [True, False]])
def test_other_values_keep_a_linear_or_category_axis(values: list[Any]) -> None:
    assert chart(values)["layout"]["xaxis"].get("type") in (None, "linear", "category")


def test_strings_are_categories() -> None:
    assert chart(["rbf", "linear"])["layout"]["xaxis"]["type"] == "category"
