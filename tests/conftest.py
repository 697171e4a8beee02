"""Fixtures shared by every tier; the helpers behind them live in tests/support/.

Tests that take `backend` (or `db_url`, `make_config`) run against SQLite, a real MariaDB
and a real PostgreSQL; each MariaDB or PostgreSQL test gets a fresh database, dropped
afterwards.

Under pytest-xdist (scripts/test.sh runs several workers) the tests that cannot share the
machine with each other are grouped by support/parallel.py; the session fixtures here only
check that a service answers, so each worker may run them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import ConfigMaker, config_maker
from support.ordinary_user import OrdinaryUser, find_ordinary_user
from support.parallel import assign_groups, name_groups
from support.services import MYSQL_BASE, POSTGRES_BASE, mysql_connect, postgres_connect, service_missing


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its own hook of the same name)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    assign_groups(items)
    name_groups(config, items)


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


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        postgres_connect().close()
    except Exception as e:  # noqa: BLE001 - any failure means "no server"
        service_missing("PostgreSQL", str(e))
    return POSTGRES_BASE


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    name = f"pyexp_t_{uuid.uuid4().hex[:10]}"
    with postgres_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server.rstrip('/')}/{name}"
    with postgres_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "mysql", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'experiments.db'}"
    return str(request.getfixturevalue("postgres_url" if backend == "postgres" else "mysql_url"))


@pytest.fixture
def make_config(tmp_path: Path, db_url: str) -> ConfigMaker:
    """Write a native config into tmp_path; keyword sections replace the defaults."""
    return config_maker(tmp_path, db_url)


@pytest.fixture(scope="session")
def ordinary_user() -> OrdinaryUser:
    """The non-root user cluster flows run as (scripts/ordinary_user.sh makes it)."""
    return find_ordinary_user()
