"""Database URLs, credentials files and where the password comes from; no database needed.

The password precedence is pinned here as a table, for both config formats:

    native (database.url, or --db / PYEXP_DB_URL, which reads no credentials file):
        1. the password in the URL (an empty one counts: `mysql://u:@host/db`)
        2. the credentials file's password
        3. PYEXP_DB_PASSWORD (set but empty counts)
        4. nothing: ~/.my.cnf becomes read_default_file, unless the URL names one
    PyExperimenter 1.4 (PY_EXPERIMENTER root, provider mysql):
        1. the credentials file's password
        2. PYEXP_DB_PASSWORD
        3. nothing (no option file, even when ~/.my.cnf exists)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pyexperimenter.config import DatabaseConfig, load_config, parse_database_url, read_credentials
from pyexperimenter.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No password or URL from the caller's shell, and a home without ~/.my.cnf."""
    monkeypatch.delenv("PYEXP_DB_PASSWORD", raising=False)
    monkeypatch.delenv("PYEXP_DB_URL", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def parse(url: str, base: Path | None = None, credentials: Path | None = None) -> DatabaseConfig:
    return parse_database_url(url, "cfg.yml: database.url", base or Path("/base"), credentials=credentials)


def error(url: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse(url)
    return str(e.value)


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- URL parsing


def test_sqlite_relative_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    db = parse("sqlite:///results.db", base=tmp_path)
    assert db == DatabaseConfig(kind="sqlite", path=(tmp_path / "results.db").resolve())
    assert parse("sqlite:///sub/r.db", base=tmp_path).path == (tmp_path / "sub" / "r.db").resolve()


def test_sqlite_absolute_path_is_kept() -> None:
    db = parse("sqlite:////abs/path/r.db")
    assert db.kind == "sqlite" and db.path == Path("/abs/path/r.db")
    assert db.url == "sqlite:////abs/path/r.db"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///"])
def test_sqlite_without_a_file(url: str) -> None:
    assert error(url) == f"cfg.yml: database.url: expected sqlite:///FILE, got '{url}'"


def test_mysql_with_user_host_port_and_database() -> None:
    db = parse("mysql://alice@db.example.org:3307/exp")
    assert db == DatabaseConfig(kind="mysql", host="db.example.org", port=3307, user="alice", database="exp")
    assert db.url == "mysql://alice@db.example.org:3307/exp"


@pytest.mark.parametrize("scheme", ["mysql", "MySQL", "mariadb", "mysql+pymysql", "mariadb+pymysql"])
def test_mysql_scheme_spellings(scheme: str) -> None:
    db = parse(f"{scheme}://h/db")
    assert (db.kind, db.host, db.port, db.user, db.database) == ("mysql", "h", 3306, None, "db")


def test_mysql_defaults_to_localhost_and_3306() -> None:
    db = parse("mysql:///db")
    assert (db.host, db.port) == ("localhost", 3306)


def test_mysql_unix_socket_and_read_default_file() -> None:
    db = parse("mysql://u@h/db?unix_socket=/run/mysqld/mysqld.sock")
    assert db.unix_socket == "/run/mysqld/mysqld.sock" and db.read_default_file is None
    db = parse("mysql://h/db?read_default_file=/home/me/.my.cnf")
    assert db.read_default_file == "/home/me/.my.cnf" and db.user is None and db.password is None


def test_user_and_password_are_percent_decoded() -> None:
    db = parse("mysql://al%40ice:p%40ss%3Aw@h/db")
    assert (db.user, db.password) == ("al@ice", "p@ss:w")
    assert db.url == "mysql://al%40ice@h:3306/db"


def test_not_a_url() -> None:
    assert error("postgres-db") == (
        "cfg.yml: database.url: expected sqlite:///FILE, mysql://USER@HOST/DB, postgresql://USER@HOST/DB or "
        "pyexp-db://DIR, got 'postgres-db'"
    )


def test_unsupported_scheme() -> None:
    assert error("oracle://u@h/db") == (
        "cfg.yml: database.url: unsupported database 'oracle'; expected sqlite, mysql, postgresql or pyexp-db"
    )


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both spellings; port 5432 by default; no ~/.my.cnf (libpq reads ~/.pgpass itself);
    the password from PYEXP_DB_PASSWORD as for MariaDB, never in the printable URL."""
    monkeypatch.setenv("PYEXP_DB_PASSWORD", "s3cret")
    db = parse(f"{scheme}://al@h/db")
    assert (db.kind, db.host, db.port, db.user, db.database) == ("postgres", "h", 5432, "al", "db")
    assert db.password == "s3cret" and db.read_default_file is None
    assert db.url == "postgresql://al@h:5432/db" and "s3cret" not in repr(db)
    assert error(f"{scheme}://al@h/db?unix_socket=/x") == (
        "cfg.yml: database.url: URL options are for mysql:// only; got 'unix_socket'"
    )


def test_pyexp_db_url_names_a_folder(tmp_path: Path) -> None:
    """`pyexp-db://DIR`: relative to the config's folder, `~` expanded; nothing else in the
    config (the connection file says where and who)."""
    db = parse("pyexp-db://srv")
    assert db.kind == "postgres" and db.password is None and db.server_dir is not None
    assert db.url == f"pyexp-db://{db.server_dir}" and db.server_dir.endswith("srv")
    assert parse("pyexp-db://~/db").server_dir == str(Path.home() / "db")


def test_unknown_url_option() -> None:
    assert error("mysql://u@h/db?charset=utf8&foo=1") == (
        "cfg.yml: database.url: unknown URL option 'charset'; expected unix_socket or read_default_file"
    )


@pytest.mark.parametrize("url", ["mysql://u@h:abc/db", "mysql://u@h:99999/db"])
def test_bad_port(url: str) -> None:
    assert error(url) == "cfg.yml: database.url: expected a numeric port"


@pytest.mark.parametrize("url", ["mysql://u@h", "mysql://u@h/", "mysql://u@h/bad-name", "mysql://u@h/a/b"])
def test_bad_database_name(url: str) -> None:
    assert error(url) == "cfg.yml: database.url: expected a database name after the host, like mysql://user@host/dbname"


# ----------------------------------------------------------------------------- credentials files


def test_credentials_file_in_pyexperimenter_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yml", {"CREDENTIALS": {
        "Database": {"user": "alice", "password": 1234},
        "Connection": {"Standard": {"server": "db.example.org", "port": 3310}},
    }})
    assert read_credentials(path) == ("alice", "1234", "db.example.org", 3310)


def test_credentials_file_flat(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yml", {"user": "bob", "password": "pw"})
    assert read_credentials(path) == ("bob", "pw", None, None)


def test_credentials_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        read_credentials(write(tmp_path / "a.yml", ["x"]))
    assert str(e.value) == f"{tmp_path / 'a.yml'}: expected a mapping, got ['x']"
    with pytest.raises(ConfigError) as e:
        read_credentials(write(tmp_path / "b.yml", {"user": "u", "passwd": "p"}))
    assert str(e.value) == f"{tmp_path / 'b.yml'}: passwd: unknown key; expected one of host, password, port, user"
    with pytest.raises(ConfigError) as e:
        read_credentials(write(tmp_path / "c.yml", {"CREDENTIALS": {"Connection": {"Standard": {"port": "x"}}}}))
    assert str(e.value) == f"{tmp_path / 'c.yml'}: CREDENTIALS.Connection.Standard.port: expected int, got 'x'"
    with pytest.raises(ConfigError) as e:
        read_credentials(tmp_path / "missing.yml")
    assert str(e.value) == f"{tmp_path / 'missing.yml'}: file not found"


def test_credentials_fill_only_what_the_url_leaves_out(tmp_path: Path) -> None:
    creds = write(tmp_path / "c.yml", {"user": "alice", "password": "pw", "host": "h1", "port": 3310})
    db = parse("mysql:///db", credentials=creds)
    assert (db.user, db.password, db.host, db.port) == ("alice", "pw", "h1", 3310)
    db = parse("mysql://bob@h2:3320/db", credentials=creds)
    assert (db.user, db.password, db.host, db.port) == ("bob", "pw", "h2", 3320)


# ----------------------------------------------------------------------------- password precedence

URL_PW = "mysql://u:from-url@h/db"
NO_PW = "mysql://u@h/db"


@pytest.mark.parametrize(
    ("url", "creds_password", "env", "my_cnf", "password", "option_file"),
    [
        # the URL wins over everything
        (URL_PW, "from-creds", "from-env", True, "from-url", None),
        ("mysql://u:@h/db", "from-creds", "from-env", True, "", None),
        # then the credentials file
        (NO_PW, "from-creds", "from-env", True, "from-creds", None),
        # then PYEXP_DB_PASSWORD (even empty)
        (NO_PW, None, "from-env", True, "from-env", None),
        (NO_PW, None, "", True, "", None),
        # then ~/.my.cnf, as the option file; the password stays unset
        (NO_PW, None, None, True, None, "HOME/.my.cnf"),
        (NO_PW, None, None, False, None, None),
        # an option file in the URL is kept, and ~/.my.cnf is not looked at
        (NO_PW + "?read_default_file=/etc/my.cnf", None, None, True, None, "/etc/my.cnf"),
        (URL_PW + "?read_default_file=/etc/my.cnf", None, None, True, "from-url", "/etc/my.cnf"),
    ],
)
def test_native_password_precedence(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
    url: str, creds_password: str | None, env: str | None, my_cnf: bool, password: str | None, option_file: str | None,
) -> None:
    creds = write(tmp_path / "c.yml", {"user": "cu"} | ({"password": creds_password} if creds_password else {}))
    if env is not None:
        monkeypatch.setenv("PYEXP_DB_PASSWORD", env)
    if my_cnf:
        (clean_env / ".my.cnf").write_text("[client]\npassword=x\n")
    db = parse(url, credentials=creds)
    assert db.password == password
    assert db.read_default_file == (option_file.replace("HOME", str(clean_env)) if option_file else None)
    assert db.user == "u"


def test_native_config_reads_its_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "c.yml", {"password": "from-creds"})
    cfg = write(tmp_path / "e.yml", {"experiment": {"name": "t"}, "parameters": {"x": [1]},
                                     "database": {"url": NO_PW, "credentials": "c.yml"}})
    monkeypatch.chdir(tmp_path)  # `credentials:` is read as written (relative to the cwd)
    monkeypatch.setenv("PYEXP_DB_PASSWORD", "from-env")
    assert load_config(cfg).database.password == "from-creds"
    # credentials_path (PyExperimenter's database_credential_file_path) replaces `credentials:`
    other = write(tmp_path / "other.yml", {"password": "from-other"})
    assert load_config(cfg, credentials_path=other).database.password == "from-other"


def test_db_override_reads_no_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = write(tmp_path / "c.yml", {"user": "cu", "password": "from-creds", "host": "ch"})
    cfg = write(tmp_path / "e.yml", {"experiment": {"name": "t"}, "parameters": {"x": [1]},
                                     "database": {"url": NO_PW, "credentials": str(creds)}})
    db = load_config(cfg, db="mysql://o@oh/odb").database
    assert (db.user, db.host, db.database, db.password) == ("o", "oh", "odb", None)
    monkeypatch.setenv("PYEXP_DB_PASSWORD", "from-env")
    assert load_config(cfg, db="mysql://o@oh/odb", credentials_path=creds).database.password == "from-env"
    monkeypatch.setenv("PYEXP_DB_URL", "mysql://o:from-url@oh/odb")
    assert load_config(cfg).database.password == "from-url"
    assert load_config(cfg, db="sqlite:///x.db").database == DatabaseConfig(kind="sqlite", path=tmp_path / "x.db")


def legacy_config(tmp_path: Path, provider: str = "mysql") -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    return write(tmp_path / "config" / "experiment.yml", {"PY_EXPERIMENTER": {"Database": {
        "provider": provider, "database": "pyexp_db",
        "table": {"name": "t", "keyfields": {"x": {"type": "INT", "values": [1, 2]}}},
    }}})


@pytest.mark.parametrize(
    ("creds_password", "env", "password"),
    [("from-creds", "from-env", "from-creds"), (None, "from-env", "from-env"), (None, "", ""), (None, None, None)],
)
def test_legacy_password_precedence(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
    creds_password: str | None, env: str | None, password: str | None,
) -> None:
    cfg = legacy_config(tmp_path)
    database = {"user": "alice"} | ({"password": creds_password} if creds_password else {})
    write(tmp_path / "config" / "database_credentials.yml", {"CREDENTIALS": {
        "Database": database, "Connection": {"Standard": {"server": "db.example.org"}},
    }})
    (clean_env / ".my.cnf").write_text("[client]\npassword=x\n")
    if env is not None:
        monkeypatch.setenv("PYEXP_DB_PASSWORD", env)
    db = load_config(cfg).database
    assert db == DatabaseConfig(kind="mysql", host="db.example.org", port=3306, user="alice",
                                password=password, database="pyexp_db")
    assert db.read_default_file is None


def test_legacy_mysql_needs_its_credentials_file(tmp_path: Path) -> None:
    cfg = legacy_config(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    creds = tmp_path / "config" / "database_credentials.yml"
    assert str(e.value) == (
        f"{cfg}: PY_EXPERIMENTER.Database.provider: mysql needs a credentials file; {creds} not found"
    )
    # ... unless --db replaces the database (a launched worker whose credentials file lives elsewhere)
    assert load_config(cfg, db="mysql://o@oh/odb").database == DatabaseConfig(kind="mysql", host="oh", user="o",
                                                                              database="odb")


def test_legacy_credentials_path_argument(tmp_path: Path) -> None:
    cfg = legacy_config(tmp_path)
    creds = write(tmp_path / "elsewhere.yml", {"CREDENTIALS": {
        "Database": {"user": "bob", "password": "pw"}, "Connection": {"Standard": {"server": "s", "port": 3311}},
    }})
    db = load_config(cfg, credentials_path=creds).database
    assert (db.user, db.password, db.host, db.port, db.database) == ("bob", "pw", "s", 3311, "pyexp_db")


# ----------------------------------------------------------------------------- the password stays hidden


def test_password_is_never_in_repr_or_url(tmp_path: Path) -> None:
    db = parse("mysql://alice:s3cr3t-pw@h:3307/db?unix_socket=/s")
    assert db.password == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(db) and "s3cr3t-pw" not in str(db) and "s3cr3t-pw" not in db.url
    cfg = write(tmp_path / "e.yml", {"experiment": {"name": "t"}, "parameters": {"x": [1]},
                                     "database": {"url": "mysql://alice:s3cr3t-pw@h/db"}})
    loaded = load_config(cfg)
    assert loaded.database.password == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(loaded)
