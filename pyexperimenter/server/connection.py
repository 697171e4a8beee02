"""The connection file of a `pyexp db` server: where it listens and the password, mode 0600.

A config names the server as `database.url: pyexp-db://DIR`; every process that connects
(the CLI, each worker) reads DIR's connection file on the shared file system, so the
password never enters a config, a command line, a log or a job's environment (which SLURM
keeps in its state directory). The file is written whole and renamed into place, created
0600 from the start: no moment exists in which it is readable by others or half-written.

A server started as a SLURM job (`pyexp db start --slurm`) writes the file without an
address first (`state: starting`) and with it once it accepts connections; workers launched
meanwhile wait for it (`settings_for(..., wait=...)`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

from ..errors import DatabaseUnavailable, InputError

FILE_NAME = "connection.json"
READY = "ready"
STARTING = "starting"
STOPPED = "stopped"
POLL_SECONDS = 2.0


def path_of(folder: str | os.PathLike[str]) -> Path:
    return Path(folder).expanduser() / FILE_NAME


def write(folder: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write the connection file atomically, readable by its owner alone."""
    target = path_of(folder)
    temp = target.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a umask cannot widen it, an old file's mode cannot either
        os.write(fd, json.dumps(info, indent=1, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, target)
    return target


def read(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The connection file's content; None when there is none. A file others may read is
    refused: its password would be theirs too."""
    target = path_of(folder)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"{target} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                         f"run `chmod 600 {target}` and change the password")
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{target}: unreadable connection file ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{target}: unreadable connection file")
    return data


def settings_for(db: Any, wait: float = 0.0) -> Any:
    """`db` (a `pyexp-db://DIR` DatabaseConfig) with host, port, user, password and database
    from DIR's connection file; waits up to `wait` seconds while the server is starting (a
    `--slurm` server whose job has not started yet). A stopped server is reported at once:
    a connection to a running one that goes away is the store's to retry, not this."""
    folder = db.server_dir
    deadline = time.monotonic() + wait
    while True:
        info = read(folder)
        if info is not None and info.get("state") == READY and info.get("host"):
            return dataclasses.replace(
                db, host=str(info["host"]), port=int(info["port"]), user=str(info["user"]),
                password=str(info["password"]), database=str(info["database"]),
            )
        if info is None or info.get("state") != STARTING or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    if info is None:
        raise DatabaseUnavailable(f"no pyexp db server in {folder}: start one with `pyexp db start {folder}`")
    state = info.get("state")
    if state == STARTING:
        raise DatabaseUnavailable(f"the pyexp db server of {folder} is still starting; `pyexp db status {folder}` "
                                  "says where it is")
    raise DatabaseUnavailable(f"the pyexp db server of {folder} is {state or 'not running'}: "
                              f"start it with `pyexp db start {folder}`")
