"""PyExperimenter 1.4's exception names, each also one of ours, so that `except
InvalidConfigError` (theirs) and `except InputError` (ours, and the CLI's exit code 2) both work."""

from __future__ import annotations

from .. import errors
from ..results import InvalidResultError


class PyExperimenterError(errors.PyexpError):
    """The root of PyExperimenter's exceptions."""


class ParameterCombinationError(PyExperimenterError, errors.InputError):
    """Rows given to a fill do not match the keyfields."""


class DatabaseError(PyExperimenterError):
    pass


class DatabaseCreationError(DatabaseError, errors.DatabaseUnavailable):
    pass


class DatabaseConnectionError(DatabaseError, errors.DatabaseUnavailable):
    pass


class SshTunnelError(DatabaseError, errors.TunnelError):
    """The SSH tunnel cannot be opened: no Ssh section, the extra missing, a refused key or port."""


class DatabaseQueryError(DatabaseError):
    pass


class EmptyFillDatabaseCallError(DatabaseError, errors.InputError):
    """A fill with no rows (PyExperimenter's name for an empty grid)."""


class CreatingTableError(DatabaseError):
    pass


class InvalidResultFieldError(DatabaseError, InvalidResultError):
    """`process_results` with a column the config does not declare."""


class InvalidLogFieldError(DatabaseError, InvalidResultError):
    """`process_logs` with a log table or column the config does not declare."""


class TableHasWrongStructureError(CreatingTableError, errors.TableMismatch):
    """The existing table does not fit the config."""


class NoExperimentsLeftException(PyExperimenterError):
    """`execute(fn, max_experiments=K)` found fewer than K open experiments (1.4.2's signal
    that cluster scripts loop on)."""


class UnsupportedInternalError(PyExperimenterError, NotImplementedError):
    """A 1.4.2 internal that would hand out the store's connection or bypass its claims,
    called; the message names what to use instead (docs/migrating.md lists them)."""


class NoPausedExperimentsException(PyExperimenterError, errors.InputError):
    """`unpause_experiment` on a row that is not paused."""


class ConfigError(PyExperimenterError, errors.ConfigError):
    pass


class NoConfigFileError(ConfigError, FileNotFoundError):
    pass


class InvalidConfigError(ConfigError):
    pass


class InvalidValuesInConfiguration(ConfigError):
    pass


class MissingLogTableError(ConfigError):
    """`get_logtable` with a name the config does not declare."""


class InvalidColumnError(ConfigError):
    pass


class InvalidLogtableError(ConfigError):
    pass

__all__ = ["PyExperimenterError", "ParameterCombinationError", "DatabaseError", "DatabaseCreationError", "DatabaseConnectionError", "SshTunnelError", "DatabaseQueryError", "EmptyFillDatabaseCallError", "CreatingTableError", "InvalidResultFieldError", "InvalidLogFieldError", "TableHasWrongStructureError", "NoExperimentsLeftException", "UnsupportedInternalError", "NoPausedExperimentsException", "ConfigError", "NoConfigFileError", "InvalidConfigError", "InvalidValuesInConfiguration", "MissingLogTableError", "InvalidColumnError", "InvalidLogtableError"]
