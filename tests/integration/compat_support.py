"""Shared by the PyExperimenter compatibility tests: its config format, its credentials
file, and PyExperimenter 1.4.2 itself in a side virtualenv (made once, then reused)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PE142_VENV = Path(os.environ.get("PYEXP_PE142_VENV", ROOT / ".venv-pe142"))


# scikit-learn: the documentation notebooks' scenarios (tests/acceptance/test_pyexperimenter_notebooks.py).
PE142_PACKAGES = ["py-experimenter==1.4.2", "scikit-learn"]


def pe142_python() -> Path:
    """The interpreter of a virtualenv with py-experimenter==1.4.2 from the package index.

    Several pytest-xdist workers may ask at once: one makes it under a lock while the others
    wait, and a venv counts as made only once its install finished (a marker file naming
    the packages), so no worker uses one that another is still filling."""
    python = PE142_VENV / "bin" / "python"
    ready = PE142_VENV / ".pyexp-installed"
    if ready.exists() and ready.read_text().split() == PE142_PACKAGES:
        return python
    PE142_VENV.mkdir(parents=True, exist_ok=True)
    with open(PE142_VENV / ".pyexp-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ready.exists() and ready.read_text().split() == PE142_PACKAGES):
            subprocess.run([sys.executable, "-m", "venv", str(PE142_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *PE142_PACKAGES], check=True)
            ready.write_text("\n".join(PE142_PACKAGES) + "\n")
    return python


def write_config(folder: Path, body: str, backend: str, mysql_url: str | None) -> tuple[Path, Path | None]:
    """A PyExperimenter config (with `{provider}` and `{database}` filled) and, for MySQL,
    its credentials file at config/database_credentials.yml, where PyExperimenter looks."""
    config = folder / "config" / "experiment_configuration.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        config.write_text(body.format(provider="sqlite", database="compat_db"))
        return config, None
    assert mysql_url is not None
    url = urlsplit(mysql_url)
    config.write_text(body.format(provider="mysql", database=url.path.lstrip("/")))
    creds = folder / "config" / "database_credentials.yml"
    creds.write_text(yaml.safe_dump({"CREDENTIALS": {
        "Database": {"user": url.username or "root", "password": url.password or ""},
        "Connection": {"Standard": {"server": url.hostname, "port": url.port or 3306}},
    }}))
    return config, creds


@pytest.fixture(name="pe_config")
def pe_config_fixture(backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a PyExperimenter config for this backend; the cwd is tmp_path (its SQLite file lives there)."""
    if backend == "postgres":
        pytest.skip("PyExperimenter 1.4's format has the providers sqlite and mysql only")
    monkeypatch.chdir(tmp_path)
    mysql_url = request.getfixturevalue("mysql_url") if backend == "mysql" else None

    def make(body: str) -> tuple[Path, Path | None]:
        return write_config(tmp_path, body, backend, mysql_url)

    return make


if __name__ == "__main__":  # scripts/test.sh: made before pytest, outside any test's timeout
    print(pe142_python())
