"""The result processor a PyExperimenter 1.4 function is handed: ours, with its exception names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..results import InvalidResultError
from ..results import ResultProcessor as NativeResultProcessor
from .exceptions import InvalidLogFieldError, InvalidResultFieldError


class ResultProcessor:
    """Writes go through our fenced processor; a bad column raises PyExperimenter's error."""

    def __init__(self, processor: NativeResultProcessor):
        self._processor = processor

    @property
    def experiment_id(self) -> int:
        return self._processor.experiment_id

    def process_results(self, results: Mapping[str, Any]) -> None:
        try:
            self._processor.process_results(results)
        except InvalidResultError as e:
            raise InvalidResultFieldError(str(e)) from e

    def process_logs(self, logs: Mapping[str, Mapping[str, Any]]) -> None:
        try:
            self._processor.process_logs(logs)
        except InvalidResultError as e:
            raise InvalidLogFieldError(str(e)) from e

__all__ = ["ResultProcessor"]
