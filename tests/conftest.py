"""Shared fixtures: every contract test runs against SQLite and a real MariaDB.

MariaDB: PYEXP_TEST_MYSQL (default mysql://root@127.0.0.1:3306) must reach a server where
the user may create databases; each test gets a fresh database, dropped afterwards. When no
server answers, MariaDB tests are skipped on a laptop but fail under CI=true.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MYSQL_BASE = os.environ.get("PYEXP_TEST_MYSQL", "mysql://root@127.0.0.1:3306")


def service_missing(what: str, why: str) -> None:
    """Skip on a laptop; under CI a missing service is a failure, never a silent skip."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: run scripts/services.sh)", pytrace=False)
    pytest.skip(message)


def mysql_connect(database: str | None = None) -> Any:
    import pymysql

    parts = urlsplit(MYSQL_BASE)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=database,
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def mysql_server() -> str:
    try:
        mysql_connect().close()
    except Exception as e:  # noqa: BLE001 - any failure means "no server"
        service_missing("MariaDB", str(e))
    return MYSQL_BASE


@pytest.fixture
def mysql_url(mysql_server: str) -> Iterator[str]:
    name = f"pyexp_t_{uuid.uuid4().hex[:10]}"
    conn = mysql_connect()
    conn.cursor().execute(f"CREATE DATABASE `{name}`")
    conn.close()
    yield f"{mysql_server.rstrip('/')}/{name}"
    conn = mysql_connect()
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'experiments.db'}"
    return str(request.getfixturevalue("mysql_url"))


ConfigMaker = Callable[..., Path]


@pytest.fixture
def make_config(tmp_path: Path, db_url: str) -> ConfigMaker:
    """Write a native config into tmp_path; keyword sections replace the defaults."""

    def make(name: str = "exp", file: str = "experiment.yml", **sections: Any) -> Path:
        experiment = {"name": name, "heartbeat_seconds": 1, "stale_after_seconds": 5}
        experiment.update(sections.pop("experiment", {}))
        data: dict[str, Any] = {
            "experiment": experiment,
            "database": {"url": db_url},
            "parameters": sections.pop("parameters", {"x": {"start": 0, "stop": 10}, "y": ["a", "b"]}),
            "results": sections.pop("results", {"value": "DOUBLE", "label": "VARCHAR(64)"}),
        }
        data.update(sections)
        path = tmp_path / file
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make
