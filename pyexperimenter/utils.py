"""PyExperimenter 1.4's `py_experimenter.utils`, under our name."""

from .compat.utils import *  # noqa: F403
