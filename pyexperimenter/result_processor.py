"""PyExperimenter 1.4's `py_experimenter.result_processor`, under our name."""

from .compat.result_processor import *  # noqa: F403
