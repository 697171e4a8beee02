"""PyExperimenter 1.4's public helpers that users call from their scripts."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .exceptions import ParameterCombinationError

_V, _D = "VARCHAR(255)", "DOUBLE"
CODECARBON_COLUMNS: dict[str, str] = {
    "codecarbon_timestamp": "DATETIME",
    "project_name": _V,
    "run_id": _V,
    "duration_seconds": _D,
    "emissions_kg": _D,
    "emissions_rate_kg_sec": _D,
    "cpu_power_watt": _D,
    "gpu_power_watt": _D,
    "ram_power_watt": _D,
    "cpu_energy_kw": _D,
    "gpu_energy_kw": _D,
    "ram_energy_kw": _D,
    "energy_consumed_kw": _D,
    "country_name": _V,
    "country_iso_code": _V,
    "region": _V,
    "cloud_provider": _V,
    "cloud_region": _V,
    "os": _V,
    "python_version": _V,
    "codecarbon_version": _V,
    "cpu_count": _D,
    "cpu_model": _V,
    "gpu_count": _D,
    "gpu_model": _V,
    "longitude": _V,
    "latitude": _V,
    "ram_total_size": _D,
    "tracking_mode": _V,
    "on_cloud": _V,
    "power_usage_efficiency": _D,
    "offline_mode": "BOOL",
}
"""PyExperimenter 1.4's `<table>_codecarbon` columns (after ID and experiment_id), in its order."""


def extract_codecarbon_columns() -> dict[str, str]:
    """The columns of PyExperimenter's `<table>_codecarbon` table, in its order."""
    return dict(CODECARBON_COLUMNS)


def get_timestamp_representation() -> str:
    """Local time to the second, as PyExperimenter writes its timestamps."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def combine_fill_table_parameters(
    keyfield_names: Sequence[str],
    parameters: Mapping[str, Sequence[Any]] | None,
    fixed_parameter_combinations: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The product of `parameters` (in keyfield order), each crossed with every fixed combination;
    every resulting row must name each keyfield exactly once."""
    parameters = parameters or {}
    used = [k for k in keyfield_names if k in parameters]
    combos = [dict(zip(used, values)) for values in itertools.product(*(parameters[k] for k in used))] if used else []
    fixed = list(fixed_parameter_combinations or [])
    if fixed:
        if combos:
            rows = []
            for combo in combos:
                for f in fixed:
                    if set(combo) & set(f):
                        raise ParameterCombinationError("There is at least one key that is used more than once!")
                    rows.append({**combo, **f})
            combos = rows
        else:
            combos = [dict(f) for f in fixed]
    if not combos:
        raise ParameterCombinationError("No parameter combination found!")
    for combo in combos:
        if set(combo) != set(keyfield_names):
            raise ParameterCombinationError(
                "The number of config_parameters + individual_parameters + parameters does not match the amount of keyfields!"
            )
    return combos

__all__ = ["extract_codecarbon_columns", "get_timestamp_representation", "combine_fill_table_parameters", "CODECARBON_COLUMNS"]
