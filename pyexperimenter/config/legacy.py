"""PyExperimenter 1.4's config format, read unchanged so that its users change one import.

    PY_EXPERIMENTER:
      n_jobs: 1
      Database:
        provider: sqlite | mysql
        database: NAME            # the SQLite file NAME.db in the working directory (NAME may
                                  # be a relative path, e.g. experiments/results_db)
        use_ssh: false            # mysql through the credentials file's Ssh gateway
                                  # (1.4.2's docs call it use_ssh_tunnel; both are read)
        table:
          name: TABLE
          keyfields: {KEY: {type: SQLTYPE, values: [...] | {start, stop, step}}}  # [] or none: no grid
          resultfields: {KEY: SQLTYPE}
          result_timestamps: false
        logtables: {NAME: {KEY: SQLTYPE}}
      Custom: {...}
      CodeCarbon: {country_iso_code: DEU, ...}   # options of codecarbon's offline tracker

MySQL reads PyExperimenter's credentials file (database_credentials.yml next to the
config, unless the caller names another). Grid semantics are PyExperimenter's: ranges
exclude stop, and types are kept exactly as written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..params.grid import Factor, Grid
from ..sqltypes import SqlType
from .database_url import read_credentials, resolve_password
from .grids import DEFAULT_MAX_GRID_ROWS, check_values, read_domain
from .model import DatabaseConfig, ExperimentConfig
from .native import read_logtables, read_results
from .sections import Section
from .ssh import legacy_ssh

LEGACY_ROOT = "PY_EXPERIMENTER"
DEFAULT_CREDENTIALS = "database_credentials.yml"
KEYFIELD_KEYS = frozenset({"type", "values"})
DEFAULT_KEYFIELD_TYPE = "VARCHAR(255)"


def load_legacy(p: Path, data: dict[str, Any], credentials_path: str | os.PathLike[str] | None,
                use_ssh: bool | None = None, replaced: bool = False) -> ExperimentConfig:
    root = Section(p, LEGACY_ROOT, data[LEGACY_ROOT])
    dbsec = root.section("Database")
    provider = str(dbsec.get("provider", str, "sqlite")).lower()
    dbname = dbsec.get("database", str, required=True)
    if provider != "sqlite":  # a server's database name is pasted into SQL; a SQLite file's path is not
        dbname = dbsec.identifier(dbname, "database name", "database")
    elif not dbname.strip():
        raise dbsec.error("expected the SQLite file's name", dbname, "database")
    table = dbsec.section("table")
    name = table.table_name(table.get("name", str, required=True), "name")
    params, factors = _keyfields(table.section("keyfields"))
    if math.prod(len(f.values) for f in factors) > DEFAULT_MAX_GRID_ROWS:
        raise table.error(f"the keyfields' values make more than {DEFAULT_MAX_GRID_ROWS:,} rows")
    for factor in factors:
        check_values(table.section("keyfields"), factor, params)
    results = read_results(table.section("resultfields"), params)
    logtables = read_logtables(dbsec.section("logtables"))
    table.derived_names(name, logtables, "name")
    database = _database(dbsec, provider, dbname, None if replaced else credentials_path, use_ssh, replaced)
    return ExperimentConfig(
        name=name,
        database=database,
        parameters=params,
        # Keyfields without values are filled by fill_table_with_rows only.
        grid=Grid(tuple(factors)) if len(factors) == len(params) else Grid(()),
        results=results,
        logtables=logtables,
        # PyExperimenter marks a failed run `error` at once; keep that unless asked otherwise.
        max_attempts=1,
        result_timestamps=table.get("result_timestamps", bool, False),
        custom=root.get("Custom", dict, {}),
        n_jobs=root.positive("n_jobs", int, 1),
        # Tracking is switched on by PyExperimenter(use_codecarbon=True); the section tunes it.
        codecarbon_options=root.get("CodeCarbon", dict, {}),
        experimenter_name="PyExperimenter",
        path=p.resolve(),
        format="pyexperimenter",
    )


def _keyfields(keyfields: Section) -> tuple[dict[str, SqlType], list[Factor]]:
    """Parameter columns, and a grid axis for each keyfield that lists its values."""
    if not keyfields.data:
        raise keyfields.error("expected at least one keyfield")
    params: dict[str, SqlType] = {}
    factors: list[Factor] = []
    for key, spec in keyfields.data.items():
        col = keyfields.column(key)
        fsec = keyfields.child(col, spec, KEYFIELD_KEYS)
        params[col] = fsec.sql_type("type", fsec.data.get("type", DEFAULT_KEYFIELD_TYPE))
        # `values: []` is 1.4.2's way to say "filled by fill_table_from_combination": no axis.
        if "values" in fsec.data and fsec.data["values"] != []:
            values, _ = read_domain(keyfields, col, fsec.data["values"])
            factors.append(Factor((col,), tuple((v,) for v in values)))
    return params, factors


def _database(
    dbsec: Section, provider: str, dbname: str, credentials_path: str | os.PathLike[str] | None, use_ssh: bool | None,
    replaced: bool = False,
) -> DatabaseConfig:
    if replaced and provider in ("sqlite", "mysql", "mariadb"):  # by --db / PYEXP_DB_URL: nothing to read
        return DatabaseConfig(kind="sqlite" if provider == "sqlite" else "mysql")
    if provider == "sqlite":
        # PyExperimenter opens NAME.db in the working directory, not next to the config.
        return DatabaseConfig(kind="sqlite", path=(Path.cwd() / f"{dbname}.db").resolve())
    if provider not in ("mysql", "mariadb"):
        raise dbsec.error("expected sqlite or mysql", provider, "provider")
    creds_file = legacy_credentials_file(dbsec.file, credentials_path)
    if not creds_file.is_file():
        raise ConfigError(
            f"{dbsec.file}: {dbsec.path('provider')}: mysql needs a credentials file; {creds_file} not found"
        )
    creds = read_credentials(creds_file)
    password, _ = resolve_password(None, creds, home_option_file=False)
    # 1.4.2's code reads `use_ssh`, its documentation writes `use_ssh_tunnel`; the caller's word wins.
    in_file = dbsec.get("use_ssh", bool, False) or dbsec.get("use_ssh_tunnel", bool, False)
    use_ssh = in_file if use_ssh is None else use_ssh
    return DatabaseConfig(
        kind="mysql",
        host=creds.host or "localhost",
        port=creds.port or 3306,
        user=creds.user,
        password=password,
        database=dbname,
        ssh=legacy_ssh(creds_file) if use_ssh else None,
    )


def legacy_credentials_file(config_file: Path, credentials_path: str | os.PathLike[str] | None) -> Path:
    """The credentials file a PyExperimenter config uses: the one named, else the one beside it."""
    return Path(credentials_path) if credentials_path else config_file.parent / DEFAULT_CREDENTIALS
