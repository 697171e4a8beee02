"""`pyexp`: parse, call the package, print. No SQL and no logic of its own lives here.

`group.py` is the click group (errors, exit codes, logging); `options.py` the shared
options; the commands live by topic: `prepare.py` (init, fill), `running.py` (run,
launch), `inspection.py` (status, results), `maintenance.py` (reset, recover, delete) and
`completion.py`; `reporting.py` (report, dashboard); `server.py` (`pyexp db`). Every heavy import (pandas, pymysql, rich) happens inside a command, so
`pyexp --help` stays fast.
"""

from __future__ import annotations

from . import completion, inspection, maintenance, prepare, reporting, running, server, snapshots  # noqa: F401 - each registers its commands
from .group import main

__all__ = ["main"]
