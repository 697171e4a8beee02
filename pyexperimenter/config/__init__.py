"""YAML configuration -> frozen dataclasses, checked completely before any database is touched.

Two formats are read: pyexperimenter's own (native.py) and PyExperimenter 1.4's
(legacy.py), told apart by the latter's `PY_EXPERIMENTER` root key. Both produce the same
ExperimentConfig, so nothing after loading knows or cares which one was written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..compat.config import CodeCarbonCfg, CustomCfg, DatabaseCfg, Keyfield, PyExperimenterCfg
from ..errors import ConfigError
from ..store.schema import RESERVED_COLUMNS
from .database_limits import check_for_database
from .database_url import Credentials, parse_database_url, read_credentials, resolve_password
from .legacy import LEGACY_ROOT, load_legacy
from .model import SCHEDULERS, DatabaseConfig, ExperimentConfig, SgeConfig, SlurmConfig
from .native import load_native
from .sections import read_yaml, show

URL_VARIABLE = "PYEXP_DB_URL"


def load_config(
    path: str | os.PathLike[str],
    db: str | None = None,
    credentials_path: str | os.PathLike[str] | None = None,
    use_ssh: bool | None = None,
) -> ExperimentConfig:
    """Read and validate a config file; `db` (or PYEXP_DB_URL) overrides its database.
    `use_ssh` (PyExperimenter's `use_ssh_tunnel`) overrides a PyExperimenter config's `use_ssh`.

    The override is a complete URL: it reads no credentials file, so its password comes
    from the URL itself, PYEXP_DB_PASSWORD or ~/.my.cnf.
    """
    p = Path(path)
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {show(data)}")
    override = db or os.environ.get(URL_VARIABLE)
    # An override replaces the database section whole: its credentials file is not read (a
    # launched worker gets --db and may not see the file the launching process was given).
    if LEGACY_ROOT in data:
        cfg = load_legacy(p, data, credentials_path, use_ssh, replaced=bool(override))
    else:
        cfg = load_native(p, data, credentials_path, replaced=bool(override))
    if override:
        cfg = cfg.with_database(parse_database_url(override, "--db / PYEXP_DB_URL", cfg.base_dir, credentials=None))
    check_for_database(cfg, p, data)
    return cfg


# PyExperimenter 1.4's `py_experimenter.config` classes (compat/config.py) share this module
# path, so that scripts importing them change only the prefix.
__all__ = [
    "CodeCarbonCfg",
    "CustomCfg",
    "DatabaseCfg",
    "Keyfield",
    "PyExperimenterCfg",
    "RESERVED_COLUMNS",
    "SCHEDULERS",
    "Credentials",
    "DatabaseConfig",
    "ExperimentConfig",
    "SgeConfig",
    "SlurmConfig",
    "load_config",
    "parse_database_url",
    "read_credentials",
    "resolve_password",
]
