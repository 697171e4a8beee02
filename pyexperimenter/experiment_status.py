"""PyExperimenter 1.4's `py_experimenter.experiment_status`, under our name."""

from .compat.experiment_status import *  # noqa: F403
