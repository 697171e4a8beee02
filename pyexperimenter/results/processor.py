"""What an experiment function writes: results and log rows, each write fenced by its claim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import FencedOut

if TYPE_CHECKING:
    from ..store.base import Claim, Store


class InvalidResultError(ValueError):
    """The experiment wrote a result or log column the config does not declare."""


class ResultProcessor:
    """Handed to the experiment function; every write is fenced by the claim's token, so
    results of a worker that was declared lost never overwrite a newer attempt."""

    def __init__(self, store: Store, claim: Claim):
        self._store = store
        self._claim = claim

    @property
    def experiment_id(self) -> int:
        return self._claim.id

    @property
    def attempt(self) -> int:
        return self._claim.attempt

    def process_results(self, results: Mapping[str, Any]) -> None:
        """Write result columns now (they are visible to `pyexp results` at once)."""
        check_result_keys(self._store, results)
        if not self._store.write_results(self._claim.token, self._claim.id, dict(results)):
            raise FencedOut(f"experiment {self._claim.id} was handed to another worker; result not written")

    def process_logs(self, logs: Mapping[str, Mapping[str, Any]]) -> None:
        """Append one row per log table, e.g. `{"epochs": {"epoch": 3, "loss": 0.1}}`."""
        tables = self._store.schema.logtables
        for table, values in logs.items():
            if table not in tables:
                raise InvalidResultError(f"unknown logtable {table!r}; expected one of {sorted(tables)}")
            unknown = sorted(set(values) - set(tables[table]))
            if unknown:
                raise InvalidResultError(
                    f"unknown column {unknown[0]!r} in logtable {table!r}; expected one of {sorted(tables[table])}"
                )
        # Copies: the caller's dicts are theirs to reuse (PyExperimenter mutated them).
        if not self._store.write_logs(self._claim.token, self._claim.id, {t: dict(v) for t, v in logs.items()}):
            raise FencedOut(f"experiment {self._claim.id} was handed to another worker; log not written")


    def process_emissions(self, row: Mapping[str, Any]) -> bool:
        """CodeCarbon's row for this run (worker/tracking.py); False when the run was handed
        to another worker meanwhile (its measurement is then not this attempt's)."""
        return self._store.write_codecarbon(self._claim.token, self._claim.id, row)


def check_result_keys(store: Store, results: Mapping[str, Any]) -> None:
    """Unknown columns, and values their column cannot hold exactly (ValueRefused), are
    refused before anything is written: the attempt fails with the column named."""
    unknown = sorted(set(results) - set(store.schema.results))
    if unknown:
        raise InvalidResultError(
            f"unknown result column {unknown[0]!r}; expected one of {sorted(store.schema.results)} "
            f"(declare it under `results:` in the config)"
        )
    for name, value in results.items():
        store.schema.results[name].to_db(value, name)
