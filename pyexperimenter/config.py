"""YAML configuration -> frozen dataclasses.

Every check happens here, before anything touches a database, so bad input can never leave
half a table behind. Messages follow one shape: `file: key: expected ..., got ...`.
Two formats are read: the native one (DESIGN section 2) and PyExperimenter 1.4's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

from .errors import ConfigError
from .grid import Factor, Grid, integer_or_float_range
from .sqltypes import ALLOWED_TYPES_HINT, SqlType, infer_type, is_identifier, parse_sql_type

# Columns every experiment table has; parameters and results may not reuse these names.
RESERVED_COLUMNS = frozenset(
    name.lower()
    for name in (
        "ID",
        "creation_date",
        "status",
        "start_date",
        "name",
        "machine",
        "end_date",
        "error",
        "attempts",
        "worker",
        "heartbeat",
        "claim_token",
        "param_hash",
        "rank_key",
        "available_at",
        "slurm_job_id",
    )
)

_SLURM_KEYS = {
    "partition": str,
    "time_minutes": int,
    "mem_gb": (int, float),
    "cpus_per_task": int,
    "gpus_per_node": int,
    "array_parallelism": int,
    "setup": list,
    "account": str,
    "qos": str,
    "constraint": str,
    "sbatch": dict,
    "signal_seconds": int,
    "python": str,
    "log_dir": str,
    "template": str,
}


@dataclass(frozen=True)
class DatabaseConfig:
    """Where the table lives. The password is kept out of repr() and out of `url`."""

    kind: str  # "sqlite" or "mysql"
    path: Path | None = None
    host: str = "localhost"
    port: int = 3306
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    unix_socket: str | None = None
    read_default_file: str | None = None

    @property
    def url(self) -> str:
        """A URL that is safe to print: the password never appears in it."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        user = f"{quote(self.user or '')}@" if self.user else ""
        return f"mysql://{user}{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class SlurmConfig:
    partition: str | None = None
    time_minutes: int = 60
    mem_gb: float = 4
    cpus_per_task: int = 1
    gpus_per_node: int = 0
    array_parallelism: int = 100
    setup: tuple[str, ...] = ()
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    sbatch: tuple[tuple[str, str], ...] = ()
    signal_seconds: int = 120  # SIGUSR2 this long before the time limit
    python: str | None = None  # interpreter on the nodes; default: the one launching
    log_dir: str | None = None  # worker logs; default pyexp_logs/<table> next to the config
    template: str | None = None  # own sbatch template; default pyexperimenter/slurm_templates/{cpu,gpu}.sbatch


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    database: DatabaseConfig
    parameters: Mapping[str, SqlType]
    grid: Grid
    results: Mapping[str, SqlType] = field(default_factory=dict)
    logtables: Mapping[str, Mapping[str, SqlType]] = field(default_factory=dict)
    function: str | None = None
    max_attempts: int = 3
    heartbeat_seconds: float = 30.0
    stale_after_seconds: float = 120.0
    retry_delay_seconds: float = 0.0
    result_timestamps: bool = False
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    custom: Mapping[str, Any] = field(default_factory=dict)
    n_jobs: int = 1
    experimenter_name: str = "pyexperimenter"
    path: Path | None = None
    format: str = "native"

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def with_database(self, database: DatabaseConfig) -> ExperimentConfig:
        return replace(self, database=database)


# ----------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str],
    db: str | None = None,
    credentials_path: str | os.PathLike[str] | None = None,
) -> ExperimentConfig:
    """Read and validate a config file; `db` (or PYEXP_DB_URL) overrides its database."""
    p = Path(path)
    data = _read_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {_show(data)}")
    if "PY_EXPERIMENTER" in data:
        cfg = _pyexperimenter(p, data, credentials_path)
    else:
        cfg = _native(p, data, credentials_path)
    override = db or os.environ.get("PYEXP_DB_URL")
    if override:
        cfg = cfg.with_database(
            parse_database_url(override, "--db / PYEXP_DB_URL", cfg.base_dir, credentials=None)
        )
    return cfg


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{p}: invalid YAML: {where}{problem}") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Section:
    """A mapping being validated; remembers its file and key path for messages."""

    def __init__(self, file: Path, key: str, data: Any, allowed: set[str] | None = None):
        self.file, self.key = file, key
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.error("expected a mapping", data)
        self.data: dict[str, Any] = data
        if allowed is not None:
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                raise ConfigError(
                    f"{file}: {self.path(unknown[0])}: unknown key; expected one of "
                    f"{', '.join(sorted(allowed))}"
                )

    def path(self, sub: str | None = None) -> str:
        if sub is None:
            return self.key
        return f"{self.key}.{sub}" if self.key else sub

    def error(self, expected: str, got: Any = None, sub: str | None = None) -> ConfigError:
        tail = f", got {_show(got)}" if got is not None else ""
        return ConfigError(f"{self.file}: {self.path(sub)}: {expected}{tail}")

    def section(self, sub: str, allowed: set[str] | None = None) -> _Section:
        return _Section(self.file, self.path(sub), self.data.get(sub), allowed)

    def get(self, sub: str, kind: Any, default: Any = None, required: bool = False) -> Any:
        if sub not in self.data or self.data[sub] is None:
            if required:
                raise self.error("is required", None, sub)
            return default
        value = self.data[sub]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(f"expected {names}", value, sub)
        return value

    def positive(self, sub: str, kind: Any, default: Any) -> Any:
        value = self.get(sub, kind, default)
        if value is not None and value <= 0:
            raise self.error("expected a positive number", value, sub)
        return value


def _identifier(sec: _Section, name: Any, what: str, sub: str | None = None) -> str:
    if not is_identifier(name):
        raise sec.error(
            f"{what} must match [A-Za-z_][A-Za-z0-9_]{{0,63}}", name, sub if sub else None
        )
    return str(name)


def _sql_type(sec: _Section, sub: str, value: Any) -> SqlType:
    t = parse_sql_type(value)
    if t is None:
        raise sec.error(f"expected a column type, {ALLOWED_TYPES_HINT}", value, sub)
    return t


def _column(sec: _Section, name: Any) -> str:
    col = _identifier(sec, name, "column name", str(name))
    if col.lower() in RESERVED_COLUMNS:
        raise sec.error(f"'{col}' is a column pyexperimenter keeps itself; choose another name", None, col)
    return col


# ----------------------------------------------------------------------------- native format

_NATIVE_TOP = {
    "experiment",
    "database",
    "parameters",
    "results",
    "logtables",
    "slurm",
    "custom",
}


def _native(p: Path, data: dict[str, Any], credentials_path: Any) -> ExperimentConfig:
    top = _Section(p, "", data, _NATIVE_TOP)
    exp = top.section(
        "experiment",
        {
            "name",
            "function",
            "max_attempts",
            "heartbeat_seconds",
            "stale_after_seconds",
            "retry_delay_seconds",
            "result_timestamps",
            "n_jobs",
        },
    )
    name = _identifier(exp, exp.get("name", str, required=True), "table name", "name")
    function = exp.get("function", str)
    if function is not None and ":" not in function:
        raise exp.error("expected 'module:function'", function, "function")
    heartbeat = exp.positive("heartbeat_seconds", float, 30.0)
    stale = exp.positive("stale_after_seconds", float, 4 * heartbeat)
    if stale <= heartbeat:
        raise exp.error(f"must be larger than heartbeat_seconds ({heartbeat:g})", stale, "stale_after_seconds")
    retry_delay = exp.get("retry_delay_seconds", float, 0.0)
    if retry_delay < 0:
        raise exp.error("expected a number >= 0", retry_delay, "retry_delay_seconds")

    dbsec = top.section("database", {"url", "credentials"})
    url = dbsec.get("url", str, f"sqlite:///{name}.db")
    creds = credentials_path or dbsec.get("credentials", str)
    database = parse_database_url(url, f"{p}: database.url", p.parent, credentials=creds)

    params, grid = _native_parameters(top.section("parameters"))
    results = _results(top.section("results"), params)
    logtables = _logtables(top.section("logtables"))
    slurm = _slurm(top.section("slurm", set(_SLURM_KEYS)))
    custom = top.get("custom", dict, {})
    return ExperimentConfig(
        name=name,
        database=database,
        parameters=params,
        grid=grid,
        results=results,
        logtables=logtables,
        function=function,
        max_attempts=exp.positive("max_attempts", int, 3),
        heartbeat_seconds=heartbeat,
        stale_after_seconds=stale,
        retry_delay_seconds=retry_delay,
        result_timestamps=exp.get("result_timestamps", bool, False),
        slurm=slurm,
        custom=custom,
        n_jobs=exp.positive("n_jobs", int, 1),
        path=p.resolve(),
        format="native",
    )


def _native_parameters(sec: _Section) -> tuple[dict[str, SqlType], Grid]:
    if not sec.data:
        raise sec.error("expected at least one parameter (the grid is empty)")
    factors: list[Factor] = []
    columns: dict[str, SqlType] = {}
    for key, spec in sec.data.items():
        if key == "zip":
            groups = spec if isinstance(spec, list) else [spec]
            for i, group in enumerate(groups):
                zsec = _Section(sec.file, sec.path("zip" if len(groups) == 1 else f"zip[{i}]"), group)
                factors.append(_zip_factor(zsec, columns))
            continue
        col = _column(sec, key)
        if col in columns:
            raise sec.error("parameter is listed twice", None, col)
        values, explicit = _domain(sec, col, spec)
        columns[col] = explicit or infer_type(values)
        factors.append(Factor((col,), tuple((v,) for v in values)))
    return columns, Grid(tuple(factors))


def _zip_factor(zsec: _Section, columns: dict[str, SqlType]) -> Factor:
    if not zsec.data:
        raise zsec.error("expected a mapping of parameter lists of equal length")
    names, lists = [], []
    for key, spec in zsec.data.items():
        col = _column(zsec, key)
        if col in columns:
            raise zsec.error("parameter is listed twice", None, col)
        values, explicit = _domain(zsec, col, spec)
        columns[col] = explicit or infer_type(values)
        names.append(col)
        lists.append(values)
    lengths = {len(v) for v in lists}
    if len(lengths) != 1:
        detail = ", ".join(f"{n}: {len(v)}" for n, v in zip(names, lists))
        raise zsec.error(f"zipped lists must have equal lengths ({detail})")
    return Factor(tuple(names), tuple(zip(*lists)))


def _domain(sec: _Section, key: str, spec: Any) -> tuple[list[Any], SqlType | None]:
    """One parameter's values: a list, a range mapping, {values, type}, or a fixed scalar."""
    expected = "expected a list, {start, stop[, step]}, {values[, type]} or a single value"
    if isinstance(spec, list):
        if not spec:
            raise sec.error("expected a non-empty list (the grid would be empty)", spec, key)
        return spec, None
    if isinstance(spec, dict):
        sub = _Section(sec.file, sec.path(key), spec, {"start", "stop", "step", "values", "type"})
        sql_type = _sql_type(sub, "type", spec["type"]) if "type" in spec else None
        if "values" in spec:
            if {"start", "stop", "step"} & set(spec):
                raise sub.error("give either values or start/stop/step, not both")
            values, _ = _domain(sec, key, spec["values"])
            return values, sql_type
        return _range(sub, spec), sql_type
    if isinstance(spec, (str, int, float, bool)) or spec is None:
        return [spec], None
    raise sec.error(expected, spec, key)


def _range(sub: _Section, spec: dict[str, Any]) -> list[Any]:
    numbers = (int, float)
    start = sub.get("start", numbers, 0)
    stop = sub.get("stop", numbers, required=True)
    step = sub.get("step", numbers, 1)
    if step == 0:
        raise sub.error("expected a non-zero number", step, "step")
    values = integer_or_float_range(start, stop, step)
    if not values:
        raise sub.error(f"range is empty (start {start}, stop {stop} excluded, step {step})")
    return values


def _results(sec: _Section, params: Mapping[str, SqlType]) -> dict[str, SqlType]:
    results: dict[str, SqlType] = {}
    for key, value in sec.data.items():
        col = _column(sec, key)
        if col in params:
            raise sec.error("a result cannot share its name with a parameter", None, col)
        results[col] = _sql_type(sec, col, value)
    return results


def _logtables(sec: _Section) -> dict[str, dict[str, SqlType]]:
    tables: dict[str, dict[str, SqlType]] = {}
    for key, cols in sec.data.items():
        name = _identifier(sec, key, "logtable name", str(key))
        csec = _Section(sec.file, sec.path(name), cols)
        if not csec.data:
            raise csec.error("expected a mapping of column names to types")
        tables[name] = {}
        for ckey, ctype in csec.data.items():
            col = _identifier(csec, ckey, "column name", str(ckey))
            if col.lower() in ("id", "experiment_id", "timestamp"):
                raise csec.error("is kept by pyexperimenter; choose another name", None, col)
            tables[name][col] = _sql_type(csec, col, ctype)
    return tables


def _slurm(sec: _Section) -> SlurmConfig:
    values: dict[str, Any] = {}
    for key, kind in _SLURM_KEYS.items():
        if key in sec.data and sec.data[key] is not None:
            values[key] = sec.get(key, kind)
    if "setup" in values:
        if not all(isinstance(s, str) for s in values["setup"]):
            raise sec.error("expected a list of shell lines", values["setup"], "setup")
        values["setup"] = tuple(values["setup"])
    if "sbatch" in values:
        values["sbatch"] = tuple((str(k), str(v)) for k, v in values["sbatch"].items())
    for key in ("time_minutes", "cpus_per_task", "array_parallelism", "mem_gb"):
        if key in values and values[key] <= 0:
            raise sec.error("expected a positive number", values[key], key)
    return SlurmConfig(**values)


# ----------------------------------------------------------------------------- database URLs


def parse_database_url(
    url: str, where: str, base_dir: Path, credentials: str | os.PathLike[str] | None
) -> DatabaseConfig:
    """sqlite:///relative.db (relative to the config's folder), sqlite:////abs.db, or
    mysql://user[:password]@host[:port]/database[?unix_socket=...].

    The password comes from the URL, PYEXP_DB_PASSWORD, a credentials file or ~/.my.cnf.
    """
    if "://" not in url:
        raise ConfigError(f"{where}: expected sqlite:///FILE or mysql://USER@HOST/DB, got {_show(url)}")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"{where}: expected sqlite:///FILE, got {_show(url)}")
        file = Path(rest[1:])
        return DatabaseConfig(kind="sqlite", path=file if file.is_absolute() else (base_dir / file).resolve())
    if scheme not in ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"):
        raise ConfigError(f"{where}: unsupported database '{scheme}'; expected sqlite or mysql")
    parts = urlsplit("mysql://" + rest)
    try:
        port = parts.port or 3306
    except ValueError:
        raise ConfigError(f"{where}: expected a numeric port") from None
    database = parts.path.lstrip("/")
    if not is_identifier(database):
        raise ConfigError(f"{where}: expected a database name after the host, like mysql://user@host/dbname")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"unix_socket", "read_default_file"}
    if unknown:
        raise ConfigError(f"{where}: unknown URL option '{sorted(unknown)[0]}'; expected unix_socket or read_default_file")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    host = parts.hostname or "localhost"
    if credentials is not None:
        cuser, cpassword, chost, cport = read_credentials(Path(credentials))
        user = user or cuser
        password = password if password is not None else cpassword
        if not parts.hostname and chost:
            host = chost
        if not parts.port and cport:
            port = cport
    if password is None and "PYEXP_DB_PASSWORD" in os.environ:
        password = os.environ["PYEXP_DB_PASSWORD"]
    read_default = query.get("read_default_file")
    if password is None and read_default is None:
        mycnf = Path.home() / ".my.cnf"
        if mycnf.is_file():
            read_default = str(mycnf)
    return DatabaseConfig(
        kind="mysql",
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        unix_socket=query.get("unix_socket"),
        read_default_file=read_default,
    )


def read_credentials(path: Path) -> tuple[str | None, str | None, str | None, int | None]:
    """PyExperimenter's credentials file (CREDENTIALS.Database / Connection.Standard), or a
    flat {user, password, host, port} mapping. Returns (user, password, host, port)."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping, got {_show(data)}")
    if "CREDENTIALS" in data:
        root = _Section(path, "CREDENTIALS", data["CREDENTIALS"])
        dbs = root.section("Database")
        conn = root.section("Connection").section("Standard")
        user, password = dbs.get("user", str), dbs.get("password", (str, int))
        host, port = conn.get("server", str), conn.get("port", int)
    else:
        flat = _Section(path, "", data, {"user", "password", "host", "port"})
        user, password = flat.get("user", str), flat.get("password", (str, int))
        host, port = flat.get("host", str), flat.get("port", int)
    return user, (str(password) if password is not None else None), host, port


# ----------------------------------------------------------------------------- PyExperimenter 1.4


def _pyexperimenter(p: Path, data: dict[str, Any], credentials_path: Any) -> ExperimentConfig:
    root = _Section(p, "PY_EXPERIMENTER", data["PY_EXPERIMENTER"])
    dbsec = root.section("Database")
    provider = str(dbsec.get("provider", str, "sqlite")).lower()
    dbname = _identifier(dbsec, dbsec.get("database", str, required=True), "database name", "database")
    table = dbsec.section("table")
    name = _identifier(table, table.get("name", str, required=True), "table name", "name")

    params: dict[str, SqlType] = {}
    factors: list[Factor] = []
    keyfields = table.section("keyfields")
    if not keyfields.data:
        raise keyfields.error("expected at least one keyfield")
    for key, spec in keyfields.data.items():
        col = _column(keyfields, key)
        fsec = _Section(p, keyfields.path(col), spec, {"type", "values"})
        params[col] = _sql_type(fsec, "type", fsec.data.get("type", "VARCHAR(255)"))
        if "values" in fsec.data:
            values, _ = _domain(keyfields, col, fsec.data["values"])
            factors.append(Factor((col,), tuple((v,) for v in values)))
    results = _results(table.section("resultfields"), params)
    logtables = _logtables(dbsec.section("logtables"))

    if provider == "sqlite":
        database = DatabaseConfig(kind="sqlite", path=(Path.cwd() / f"{dbname}.db").resolve())
    elif provider in ("mysql", "mariadb"):
        creds = credentials_path or (p.parent / "database_credentials.yml")
        if not Path(creds).is_file():
            raise ConfigError(f"{p}: PY_EXPERIMENTER.Database.provider: mysql needs a credentials file; {creds} not found")
        user, password, host, port = read_credentials(Path(creds))
        if password is None:
            password = os.environ.get("PYEXP_DB_PASSWORD")
        database = DatabaseConfig(
            kind="mysql", host=host or "localhost", port=port or 3306, user=user, password=password, database=dbname
        )
    else:
        raise dbsec.error("expected sqlite or mysql", provider, "provider")
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
        experimenter_name="PyExperimenter",
        path=p.resolve(),
        format="pyexperimenter",
    )
