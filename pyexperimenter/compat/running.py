"""PyExperimenter 1.4's ways to run one given experiment: add-and-run, unpause, attach.

Each claims the row under a fresh token (or, for `attach`, writes under the token of the
worker that holds it), so every write stays fenced exactly as a worker's are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..config import ExperimentConfig
from ..results import ResultProcessor as NativeResultProcessor
from ..store import Claim, Store, WorkerIdentity
from ..worker import Worker
from .exceptions import NoPausedExperimentsException
from .result_processor import ResultProcessor

ExperimentFunction = Callable[[dict[str, Any], Any, dict[str, Any]], Any]


class RunMixin:
    """Mixed into PyExperimenter; relies on Experimenter's `config`, `store`, `_creating_store`."""

    config: ExperimentConfig
    logger: logging.Logger

    if TYPE_CHECKING:  # supplied by Experimenter

        @property
        def store(self) -> Store: ...

        def _check_row(self, index: int, row: Mapping[str, Any]) -> dict[str, Any]: ...

        def _creating_store(self) -> Store: ...

    def _wrapped(self, fn: ExperimentFunction, started: Any = None) -> ExperimentFunction:
        """The user's function, handed PyExperimenter's result processor (with the config view,
        connector and logger 1.4.2's carried). `started`, a shared counter, counts the runs
        begun in any worker process, so `execute` can tell that fewer rows than asked were open."""

        def _execute_experiment(keyfield_values: dict[str, Any], processor: NativeResultProcessor,
                                custom: dict[str, Any]) -> Any:
            if started is not None:
                with started.get_lock():
                    started.value += 1
            return fn(keyfield_values, self.result_processor(processor), custom)

        return _execute_experiment

    def result_processor(self, processor: NativeResultProcessor) -> ResultProcessor:
        return ResultProcessor.of(processor)

    def _run_claimed(self, row_id: int, statuses: Sequence[str], fn: ExperimentFunction) -> bool:
        store = self.store
        claim = store.claim_id(WorkerIdentity.current(), row_id, statuses)
        if claim is None:
            return False
        Worker(self.config, self._wrapped(fn), store=store).run_claim(claim)
        return True

    def add_experiment_and_execute(self, keyfield_values: Mapping[str, Any], experiment_function: ExperimentFunction) -> None:
        """Add one row and run it here at once; a row that exists already is left alone."""
        row = self._check_row(0, keyfield_values)
        store = self._creating_store()
        store.insert_missing([row])
        found = store.find(row)
        if found is None or found[1] != "created" or not self._run_claimed(found[0], ["created"], experiment_function):
            self.logger.info("Experiment already exists in database. Skipping.")
            return
        self.logger.info(f"Experiment with id {found[0]} successfully executed.")

    def unpause_experiment(self, experiment_id: int, experiment_function: ExperimentFunction) -> None:
        """Run a paused experiment again, here; its results so far stay."""
        if not self._run_claimed(int(experiment_id), ["paused"], experiment_function):
            raise NoPausedExperimentsException(f"There is no paused experiment with id {experiment_id} in the table.")

    def attach(self, experiment_function: Callable[[ResultProcessor], Any], experiment_id: int) -> Any:
        """Run `experiment_function(result_processor)` beside the worker that runs the row,
        writing under that worker's claim (MySQL only, as in PyExperimenter)."""
        if self.config.database.kind == "sqlite":
            raise ValueError("Attaching is not supported for sqlite databases")
        store = self.store
        rows = store.rows(where={"ID": int(experiment_id)})
        if not rows or rows[0]["status"] != "running" or not rows[0].get("pyexp_token"):
            raise NoPausedExperimentsException(f"experiment {experiment_id} is not running")
        row = rows[0]
        claim = Claim(int(row["ID"]), str(row["pyexp_token"]), int(row["pyexp_attempts"]),
                      {p: row[p] for p in self.config.parameters})
        native = NativeResultProcessor(store, claim, self.config.checkpoint_root())
        return experiment_function(self.result_processor(native))
