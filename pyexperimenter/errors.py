"""Exception types; their class decides the CLI's exit code, so callers never guess."""

from __future__ import annotations


class PyexpError(Exception):
    """The work itself failed (exit code 1)."""

    exit_code = 1


class Requeue(Exception):  # noqa: N818 - the name users raise (DESIGN.md section 3)
    """Raised by an experiment that saved its state: "requeue me". Its row goes back to
    `created` without spending an attempt, and the next claim (anywhere) resumes from the
    checkpoint directory and the saved state. Counted against `experiment.max_requeues`,
    so an experiment that always asks ends in `error` with its reason, never loops."""

    def __init__(self, reason: str = "requeued by the experiment"):
        super().__init__(reason)
        self.reason = reason


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


class ValueRefused(InputError):
    """A value does not fit its column (too long, text for a number, out of range).

    Raised before the value reaches the database, by the same rules on every backend (what
    MariaDB's strict mode would refuse, SQLite refuses too), and for any refusal the
    database still makes itself: nothing is ever cut or converted silently. At fill it is
    bad input (exit 2); for a result or log row it fails that attempt, never the worker."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column
        self.detail = message

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.detail}" if self.column else self.detail

    def named(self, column: str) -> ValueRefused:
        """The same refusal naming its column (the type knows the rule, its caller the name)."""
        return ValueRefused(self.detail, column)


class FencedOut(PyexpError):
    """This worker no longer owns the row: it was declared lost and handed to another."""
