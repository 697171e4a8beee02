"""The result processor a PyExperimenter 1.4 function is handed: ours, with its exception names
and the attributes 1.4.2 scripts read (`logger`, `database_config`, `experiment_id`,
`db_connector`, e.g. for bulk logtable writes through `db_connector.execute_queries`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..results import InvalidResultError
from ..results import ResultProcessor as NativeResultProcessor
from .exceptions import InvalidLogFieldError, InvalidResultFieldError, UnsupportedInternalError

if TYPE_CHECKING:
    from .config import DatabaseCfg
    from .connector import DatabaseConnector


_BY_HAND = ("a ResultProcessor built by hand (database_config, db_connector, experiment_id, logger) writes "
            "without a claim: use the result processor PyExperimenter hands the experiment function (or attach())")


class ResultProcessor:
    """Writes go through our fenced processor; a bad column raises PyExperimenter's error.

    PyExperimenter builds it around the claim it runs (`of`). Scripts and 1.4.2's suite also
    build one by hand with 1.4.2's constructor to read its attributes and run its checks;
    that one has no claim, so its writes raise UnsupportedInternalError after the checks
    (1.4.2's wrote to the row whoever held it)."""

    def __init__(self, database_config: DatabaseCfg, db_connector: DatabaseConnector, experiment_id: int,
                 logger: logging.Logger | None = None):
        self.processor: NativeResultProcessor | None = None
        self.database_config: DatabaseCfg | None = database_config
        self.db_connector: DatabaseConnector | None = db_connector
        self.experiment_id = experiment_id
        self.logger = logger if logger is not None else logging.getLogger("py-experimenter")

    @classmethod
    def of(cls, processor: NativeResultProcessor, database_config: DatabaseCfg | None = None,
           db_connector: DatabaseConnector | None = None, logger: logging.Logger | None = None) -> ResultProcessor:
        made = cls.__new__(cls)
        made.processor = processor
        made.database_config = database_config
        made.db_connector = db_connector
        made.experiment_id = processor.experiment_id
        made.logger = logger if logger is not None else logging.getLogger("py-experimenter")
        return made

    # Long runs (docs/long-runs.md) are ours, not 1.4's: passed through, so a PyExperimenter
    # experiment can resume too. A processor built by hand has no row to resume.
    def _native(self) -> NativeResultProcessor:
        if self.processor is None:
            raise UnsupportedInternalError(_BY_HAND)
        return self.processor

    @property
    def attempt(self) -> int:
        return self._native().attempt

    @property
    def checkpoint_dir(self) -> Any:
        return self._native().checkpoint_dir

    @property
    def state(self) -> dict[str, Any]:
        return self._native().state

    def save_state(self, state: Mapping[str, Any]) -> None:
        self._native().save_state(state)

    @property
    def stop_requested(self) -> bool:
        return self._native().stop_requested

    @property
    def experiment_id_condition(self) -> str:
        return f"ID = {self.experiment_id}"

    @staticmethod
    def _add_timestamps_to_results(results: Mapping[str, Any]) -> dict[str, Any]:
        """Each result with its `<field>_timestamp` (local time to the second), as 1.4.2 wrote them."""
        from .utils import get_timestamp_representation

        now = get_timestamp_representation()
        out = dict(results)
        for field in sorted(results):
            out[f"{field}_timestamp"] = now
        return out

    def process_results(self, results: Mapping[str, Any]) -> None:
        if self.processor is None:
            if not self._valid_result_fields(list(results)):
                names = self.database_config.resultfields if self.database_config is not None else {}
                invalid = set(results) - set(names)
                raise InvalidResultFieldError(f"Invalid result keys: {invalid}. See previous logs for more information.")
            raise UnsupportedInternalError(_BY_HAND)
        try:
            self.processor.process_results(results)
        except InvalidResultError as e:
            raise InvalidResultFieldError(str(e)) from e

    def process_logs(self, logs: Mapping[str, Mapping[str, Any]]) -> None:
        if self.processor is None:
            if not self._valid_logtable_logs(logs):
                raise InvalidLogFieldError("Invalid logtable entries. See logs for more information")
            raise UnsupportedInternalError(_BY_HAND)
        try:
            self.processor.process_logs(logs)
        except InvalidResultError as e:
            raise InvalidLogFieldError(str(e)) from e

    def _valid_result_fields(self, result_fields: Any) -> bool:
        """1.4.2's check, for scripts that test their keys before writing."""
        return self.database_config is not None and set(result_fields) <= set(self.database_config.resultfields)

    def _valid_logtable_logs(self, logs: Mapping[str, Mapping[str, Any]]) -> bool:
        if self.database_config is None:
            return False
        tables = self.database_config.logtables
        named = {f"{self.database_config.table_name}__{k}": v for k, v in logs.items()}
        return set(named) <= set(tables) and all(set(v) <= set(tables[k]) for k, v in named.items())


def _refusing(name: str, use: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise UnsupportedInternalError(f"result_processor.{name} is not available: {use}")

    refuse.__name__ = name
    return refuse


# 1.4.2's status and bookkeeping writers: here the worker writes them, under its claim.
for _name, _use in {
    "_change_status": "return ExperimentStatus.DONE/ERROR/PAUSED from the experiment function, or raise",
    "_write_error": "raise from the experiment function; the traceback is stored in `error`",
    "_set_machine": "the worker records the machine", "_set_name": "PyExperimenter(name=...)",
    "_write_emissions": "PyExperimenter(use_codecarbon=True) records emissions",
}.items():
    setattr(ResultProcessor, _name, _refusing(_name, _use))

__all__ = ["ResultProcessor"]
