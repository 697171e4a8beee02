"""The services tests claim: MariaDB at PYEXP_TEST_MYSQL, PostgreSQL at PYEXP_TEST_POSTGRES,
and what to do without one.

PYEXP_TEST_MYSQL (default mysql://root@127.0.0.1:3306) and PYEXP_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432, trust auth) must reach a server where the user may
create databases. When no server answers, tests that claim it are skipped on a laptop
but fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MYSQL_BASE = os.environ.get("PYEXP_TEST_MYSQL", "mysql://root@127.0.0.1:3306")
POSTGRES_BASE = os.environ.get("PYEXP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


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


def postgres_connect(database: str = "test") -> Any:
    """An autocommit connection to the test server (CREATE/DROP DATABASE run outside transactions)."""
    import psycopg

    parts = urlsplit(POSTGRES_BASE)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname=database,
        autocommit=True,
        connect_timeout=5,
    )


def require_slurm() -> None:
    """A one-node cluster with a usable node (scripts/services.sh), or service_missing."""
    for tool in ("sinfo", "sbatch", "squeue", "scancel", "scontrol"):
        if shutil.which(tool) is None:
            service_missing("SLURM", f"{tool} not found on PATH")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        service_missing("SLURM", "sinfo did not answer within 15 s")
    if out.returncode != 0:
        service_missing("SLURM", f"sinfo failed: {out.stderr.strip()}")
    states = [s.rstrip("*~#$@+") for s in out.stdout.split()]
    if not {"idle", "mixed", "allocated", "completing"} & set(states):
        service_missing("SLURM", f"no usable node (states: {states})")


def require_sge() -> None:
    """A Grid Engine cell whose execution host reports (scripts/services.sh), or service_missing."""
    for tool in ("qsub", "qstat", "qdel", "qconf", "qhost"):
        if shutil.which(tool) is None:
            service_missing("Grid Engine", f"{tool} not found on PATH")
    try:
        out = subprocess.run(["qhost"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        service_missing("Grid Engine", "qhost did not answer within 30 s")
    if out.returncode != 0:
        service_missing("Grid Engine", f"qhost failed: {out.stderr.strip()}")
    hosts = [line.split() for line in out.stdout.splitlines()[3:] if line.strip()]
    if not any(len(h) > 6 and h[6] != "-" for h in hosts):  # a host with a load: its execd reports
        service_missing("Grid Engine", f"no execution host reports a load:\n{out.stdout}")
