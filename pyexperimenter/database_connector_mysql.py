"""PyExperimenter 1.4's `py_experimenter.database_connector_mysql`, under our name (scripts import the
connector classes from here for isinstance checks and type hints)."""

from .compat.connector import *  # noqa: F403
