"""PyExperimenter 1.4's `py_experimenter.exceptions`, under our name."""

from .compat.exceptions import *  # noqa: F403
