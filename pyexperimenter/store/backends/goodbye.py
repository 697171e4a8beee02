"""A server connection is closed when its process exits, whoever forgot to (a CLI command's
store, a script that never calls close(), a worker of a SLURM array).

A socket dropped without the protocol's goodbye is an "Aborted connection" warning and one
more Aborted_clients on MariaDB, an "unexpected EOF on client connection" on PostgreSQL, and
a server backend that lives on until the server reads the EOF. A forked child (the pid
differs) leaves its parent's connections alone: closing them would end the parent's session
too.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Any, Protocol


class _Connected(Protocol):
    conn: Any  # the driver's connection, or None


_OPEN: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # session -> the pid that opened it


def close_at_exit(session: _Connected) -> None:
    """Close `session.conn` when this process exits (if it is still open then)."""
    _OPEN[session] = os.getpid()


@atexit.register
def _say_goodbye() -> None:
    for session, pid in list(_OPEN.items()):
        if pid == os.getpid() and session.conn is not None:
            try:
                session.conn.close()
            except Exception:  # noqa: BLE001 - exiting anyway; the server notices the dropped socket
                pass
            session.conn = None
