"""The connection file of `pyexp db` (server/connection.py): created 0600, refused when others
may read it, and waited for while a `--slurm` server starts; real files, no server."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pyexperimenter.config.model import DatabaseConfig
from pyexperimenter.errors import DatabaseUnavailable, InputError
from pyexperimenter.server import connection

INFO = {"state": "ready", "host": "10.0.0.5", "port": 5544, "user": "pyexp", "password": "pw-123",
        "database": "pyexp"}


def test_written_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = connection.write(tmp_path, INFO)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert connection.read(tmp_path) == INFO
    assert [p.name for p in tmp_path.iterdir()] == ["connection.json"]  # no temporary file left


def test_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = connection.write(tmp_path, INFO)
    path.chmod(0o644)
    with pytest.raises(InputError, match="readable by others.*chmod 600"):
        connection.read(tmp_path)


def test_settings_come_from_the_file_and_never_show_the_password(tmp_path: Path) -> None:
    connection.write(tmp_path, INFO)
    db = connection.settings_for(DatabaseConfig(kind="postgres", server_dir=str(tmp_path)))
    assert (db.host, db.port, db.user, db.password, db.database) == ("10.0.0.5", 5544, "pyexp", "pw-123", "pyexp")
    assert db.url == f"pyexp-db://{tmp_path}" and "pw-123" not in repr(db)


def test_a_starting_server_is_waited_for_a_stopped_one_is_not(tmp_path: Path) -> None:
    db = DatabaseConfig(kind="postgres", server_dir=str(tmp_path))
    with pytest.raises(DatabaseUnavailable, match="no pyexp db server .*pyexp db start"):
        connection.settings_for(db, wait=30)
    connection.write(tmp_path, {**INFO, "state": "stopped"})
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="is stopped"):
        connection.settings_for(db, wait=30)
    assert time.monotonic() - started < 5
    connection.write(tmp_path, {"state": "starting", "host": None})
    later = threading.Timer(3.0, lambda: connection.write(tmp_path, INFO))
    later.start()
    try:
        found = connection.settings_for(db, wait=60)
    finally:
        later.join()
    assert found.host == "10.0.0.5" and time.monotonic() - started >= 3
    connection.write(tmp_path, {"state": "starting", "host": None})
    with pytest.raises(DatabaseUnavailable, match="still starting"):
        connection.settings_for(db, wait=0)
