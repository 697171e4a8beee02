"""pyexperimenter: define experiments as rows of a table, run them anywhere, lose nothing.

Names are imported lazily so that `pyexp --help` does not pay for pandas or pymysql.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .compat.experiment_status import ExperimentStatus
    from .compat.experimenter import PyExperimenter
    from .errors import Requeue
    from .experiment import Experimenter
    from .results import ResultProcessor
    from .status import Status

_EXPORTS = {
    "Experimenter": ("experiment", "Experimenter"),
    "PyExperimenter": ("compat.experimenter", "PyExperimenter"),
    "ResultProcessor": ("results", "ResultProcessor"),
    "Requeue": ("errors", "Requeue"),
    "Status": ("status", "Status"),
    "ExperimentStatus": ("compat.experiment_status", "ExperimentStatus"),
}

__all__ = ["Experimenter", "ExperimentStatus", "PyExperimenter", "Requeue", "ResultProcessor", "Status", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'pyexperimenter' has no attribute {name!r}")
