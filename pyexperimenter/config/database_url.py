"""Database URLs, credentials files, and the one place that decides where the password is.

A config usually lives in git, so it never needs a password: it may come from the URL
(fine for `--db` on a private machine), from a credentials file, from PYEXP_DB_PASSWORD
(which is how SLURM jobs receive it), or from the MySQL client's own ~/.my.cnf (PostgreSQL's
client library reads ~/.pgpass itself when no password is given). `pyexp-db://DIR` names the
server `pyexp db` started: everything, the password included, is read from DIR's 0600
connection file by every process that connects, so it travels in no config, command line or
job environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigError
from ..sqltypes import is_identifier
from .model import DatabaseConfig
from .sections import Section, read_yaml, show

PASSWORD_VARIABLE = "PYEXP_DB_PASSWORD"
MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql")
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
SERVER_SCHEME = "pyexp-db"
URL_OPTIONS = ("unix_socket", "read_default_file")
CREDENTIALS_KEYS = frozenset({"user", "password", "host", "port"})


class Credentials(NamedTuple):
    """What a credentials file gives; each field fills only what the URL leaves out."""

    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None


def resolve_password(
    in_url: str | None,
    credentials: Credentials | None,
    option_file: str | None = None,
    *,
    home_option_file: bool = True,
) -> tuple[str | None, str | None]:
    """(password, read_default_file): the first of the URL's password, the credentials
    file's, PYEXP_DB_PASSWORD. An empty password counts as given, so a user without one
    can say so.

    Without any, the MySQL client's ~/.my.cnf becomes the option file for the driver to
    read, unless an option file was named already. PyExperimenter 1.4 configs never looked
    at ~/.my.cnf, so they pass `home_option_file=False` and keep behaving as they did.
    """
    for password in (in_url, credentials.password if credentials else None, os.environ.get(PASSWORD_VARIABLE)):
        if password is not None:
            return password, option_file
    if option_file is None and home_option_file:
        my_cnf = Path.home() / ".my.cnf"
        if my_cnf.is_file():
            option_file = str(my_cnf)
    return None, option_file


def parse_database_url(
    url: str, where: str, base_dir: Path, credentials: str | os.PathLike[str] | None
) -> DatabaseConfig:
    """sqlite:///relative.db (relative to `base_dir`, the config's folder), sqlite:////abs.db,
    or mysql://user[:password]@host[:port]/database[?unix_socket=...|read_default_file=...].

    `credentials` names a credentials file whose user, password, host and port fill what
    the URL leaves out. `where` starts every message (the file and key, or the flag).
    """
    if "://" not in url:
        raise ConfigError(f"{where}: expected sqlite:///FILE, mysql://USER@HOST/DB, postgresql://USER@HOST/DB or "
                          f"pyexp-db://DIR, got {show(url)}")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"{where}: expected sqlite:///FILE, got {show(url)}")
        file = Path(rest[1:])
        return DatabaseConfig(kind="sqlite", path=file if file.is_absolute() else (base_dir / file).resolve())
    if scheme == SERVER_SCHEME:
        return _server(rest, where, base_dir)
    if scheme not in MYSQL_SCHEMES and scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"{where}: unsupported database '{scheme}'; expected sqlite, mysql, postgresql or pyexp-db")
    return _server_url(rest, where, credentials, "postgres" if scheme in POSTGRES_SCHEMES else "mysql")


def _server(rest: str, where: str, base_dir: Path) -> DatabaseConfig:
    """`pyexp-db://DIR` (relative to the config's folder, `~` expanded): the connection file
    `pyexp db start` wrote there says the rest. Read when the store connects, not here, so
    that workers launched before a `--slurm` server is up wait for it."""
    if not rest or rest in ("/",):
        raise ConfigError(f"{where}: expected pyexp-db://DIR (the folder of `pyexp db start DIR`), got {show(rest)}")
    folder = Path(rest).expanduser()
    folder = folder if folder.is_absolute() else (base_dir / folder).resolve()
    return DatabaseConfig(kind="postgres", port=5432, server_dir=str(folder))


def _server_url(rest: str, where: str, credentials: str | os.PathLike[str] | None, kind: str) -> DatabaseConfig:
    try:
        parts = urlsplit("mysql://" + rest)
    except ValueError as e:  # e.g. an unclosed [ of an IPv6 address
        raise ConfigError(f"{where}: cannot read the URL: {e}") from None
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: expected a numeric port") from None
    database = parts.path.lstrip("/")
    if not is_identifier(database):
        raise ConfigError(f"{where}: expected a database name after the host, like mysql://user@host/dbname")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - set(URL_OPTIONS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown URL option '{sorted(unknown)[0]}'; expected {' or '.join(URL_OPTIONS)}"
        )
    if kind == "postgres" and options:
        raise ConfigError(f"{where}: URL options are for mysql:// only; got '{sorted(options)[0]}'")
    creds = read_credentials(Path(credentials)) if credentials is not None else Credentials()
    password, option_file = resolve_password(
        unquote(parts.password) if parts.password is not None else None, creds, options.get("read_default_file"),
        home_option_file=kind == "mysql",
    )
    return DatabaseConfig(
        kind=kind,
        host=parts.hostname or creds.host or "localhost",
        port=port or creds.port or (5432 if kind == "postgres" else 3306),
        user=(unquote(parts.username) if parts.username else None) or creds.user,
        password=password,
        database=database,
        unix_socket=options.get("unix_socket"),
        read_default_file=option_file,
    )


def read_credentials(path: Path) -> Credentials:
    """PyExperimenter's credentials file (CREDENTIALS.Database / Connection.Standard), or a
    flat {user, password, host, port} mapping. A tuple (user, password, host, port)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping, got {show(data)}")
    if "CREDENTIALS" in data:
        root = Section(path, "CREDENTIALS", data["CREDENTIALS"])
        dbs = root.section("Database")
        conn = root.section("Connection").section("Standard")
        user, password = dbs.get("user", str), dbs.get("password", (str, int))
        host, port = conn.get("server", str), conn.get("port", int)
    else:
        flat = Section(path, "", data, CREDENTIALS_KEYS)
        user, password = flat.get("user", str), flat.get("password", (str, int))
        host, port = flat.get("host", str), flat.get("port", int)
    return Credentials(user, str(password) if password is not None else None, host, port)
