"""PyExperimenter 1.4's `py_experimenter.experimenter`, under our name."""

from .compat.experimenter import *  # noqa: F403
