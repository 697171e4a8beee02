"""What an experiment function writes: results and log rows, each write fenced by its claim;
and what a long run resumes from (docs/long-runs.md): its checkpoint directory, its saved
state, its attempt number and whether a stop was requested."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FencedOut

if TYPE_CHECKING:
    from ..store.base import Claim, Store


class InvalidResultError(ValueError):
    """The experiment wrote a result or log column the config does not declare."""


class ResultProcessor:
    """Handed to the experiment function; every write is fenced by the claim's token, so
    results of a worker that was declared lost never overwrite a newer attempt."""

    def __init__(self, store: Store, claim: Claim, checkpoint_root: Path, stop: Callable[[], bool] | None = None):
        self._store = store
        self._claim = claim
        self._checkpoint_root = checkpoint_root
        self._stop = stop
        self._state: dict[str, Any] | None = None
        # Whether the experiment looked at what a long run resumes from: only such an
        # experiment is given the stop grace period; any other is interrupted at once.
        self.resumable = False

    @property
    def experiment_id(self) -> int:
        return self._claim.id

    @property
    def attempt(self) -> int:
        return self._claim.attempt

    @property
    def checkpoint_dir(self) -> Path:
        """This row's own folder, kept across its attempts (on the shared file system by
        default) and removed when the row is done: what the next attempt resumes from."""
        self.resumable = True
        path = self.checkpoint_path()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint_path(self) -> Path:
        """Where `checkpoint_dir` is, made or not (an isolated child makes it itself)."""
        return self._checkpoint_root / str(self._claim.id)

    def stop_pending(self) -> bool:
        """`stop_requested` for the worker's own use: reading it does not make the attempt resumable."""
        return self._stop is not None and self._stop()

    @property
    def state(self) -> dict[str, Any]:
        """The dict last given to `save_state` by any attempt of this row; `{}` at first."""
        self.resumable = True
        if self._state is None:
            text = self._store.load_state(self._claim.id)
            self._state = json.loads(text) if text else {}
        return dict(self._state)

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Keep a small JSON-able dict with the row for the next attempt (files belong in
        `checkpoint_dir`). Refused at once when it is not JSON, never at resume time."""
        self.resumable = True
        try:
            text = json.dumps(dict(state), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InvalidResultError(f"save_state: expected a dict JSON can hold: {e}") from None
        if not self._store.save_state(self._claim.token, self._claim.id, text):
            raise FencedOut(f"experiment {self._claim.id} was handed to another worker; state not saved")
        self._state = json.loads(text)

    @property
    def stop_requested(self) -> bool:
        """True once the worker was asked to stop (SLURM's time limit or preemption, `pyexp
        cancel`, Grid Engine's notify): save, then raise `pyexperimenter.Requeue`."""
        self.resumable = True
        return self.stop_pending()

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
