"""Exception types; their class decides the CLI's exit code, so callers never guess."""

from __future__ import annotations


class PyexpError(Exception):
    """The work itself failed (exit code 1)."""

    exit_code = 1


class InputError(PyexpError):
    """Bad input: the user must change a file, a flag or a credential (exit code 2)."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration file (or a value in it) is wrong; the message names file and key."""


class TableMismatch(InputError):
    """An existing table does not fit the config (and is not a PyExperimenter 1.4 table to adopt)."""


class DatabaseUnavailable(InputError):
    """The database cannot be reached or refuses our credentials."""


class TunnelError(DatabaseUnavailable):
    """The SSH tunnel to the database cannot be opened (extra missing, key refused, port closed)."""


class FencedOut(PyexpError):
    """This worker no longer owns the row: it was declared lost and handed to another."""
