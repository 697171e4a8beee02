"""SSH tunnel settings, from PyExperimenter's credentials file or from the native config.

Compute nodes behind a firewall often reach the database only through a gateway.
PyExperimenter 1.4 describes that gateway in its credentials file (`CREDENTIALS.Connection.Ssh`)
and switches it on with `use_ssh` in the config or `use_ssh_tunnel=True`; our own configs
say `database.ssh: {host, ...}`. Both become one SshTunnelConfig, which store/tunnel.py opens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .model import SshTunnelConfig
from .sections import Section, read_yaml

KEY_PASSWORD_VARIABLE = "PYEXP_SSH_KEY_PASSWORD"
# 1.4.2's keys; `server` (where 1.4.2 pointed pymysql) is accepted and not needed: the
# connection always goes to the tunnel's local end. `passphrase` is the name 1.4.2's example
# file uses. `user` and `ssh_private_key` are ours (1.4.2 read them from ~/.ssh/config only).
LEGACY_SSH_KEYS = frozenset({
    "server", "address", "port", "ssh_private_key_password", "passphrase", "remote_address",
    "remote_port", "local_address", "local_port", "user", "ssh_private_key",
})
NATIVE_SSH_KEYS = frozenset({"host", "port", "user", "key_file", "remote_host", "remote_port", "local_host", "local_port"})
# The keys that differ: field -> key, per format.
LEGACY_NAMES = {"host": "address", "key_file": "ssh_private_key", "remote_host": "remote_address", "local_host": "local_address"}
NATIVE_NAMES = {"host": "host", "key_file": "key_file", "remote_host": "remote_host", "local_host": "local_host"}


class SshSectionError(ConfigError):
    """The settings of an SSH tunnel are wrong or missing (PyExperimenter raises SshTunnelError)."""


def legacy_ssh(path: Path) -> SshTunnelConfig:
    """The `Ssh` section of a PyExperimenter credentials file; asking for a tunnel without one
    is an error, as in 1.4.2."""
    try:
        return _legacy_ssh(path)
    except SshSectionError:
        raise
    except ConfigError as e:
        raise SshSectionError(str(e)) from None


def _legacy_ssh(path: Path) -> SshTunnelConfig:
    data = read_yaml(path)
    root = Section(path, "CREDENTIALS", data.get("CREDENTIALS") if isinstance(data, dict) else None)
    conn = root.section("Connection")
    if conn.data.get("Ssh") is None:
        raise SshSectionError(f"{path}: CREDENTIALS.Connection.Ssh: an SSH tunnel (use_ssh_tunnel) needs this "
                          "section, with at least the gateway's `address`")
    sec = conn.section("Ssh", LEGACY_SSH_KEYS)
    password = sec.get("ssh_private_key_password", (str, int), sec.get("passphrase", (str, int)))
    key_password = str(password) if password is not None else os.environ.get(KEY_PASSWORD_VARIABLE)
    return _gateway(sec, LEGACY_NAMES, key_password, legacy=True)


def native_ssh(database: Section) -> SshTunnelConfig | None:
    """`database.ssh`; the key's passphrase never sits in a config (it lives in git): it comes
    from the ssh agent or PYEXP_SSH_KEY_PASSWORD."""
    if database.data.get("ssh") is None:
        return None
    sec = database.section("ssh", NATIVE_SSH_KEYS)
    return _gateway(sec, NATIVE_NAMES, os.environ.get(KEY_PASSWORD_VARIABLE), legacy=False)


def _gateway(sec: Section, names: dict[str, str], key_password: str | None, legacy: bool) -> SshTunnelConfig:
    """One SshTunnelConfig from either section: `names` maps its fields to the section's keys."""
    return SshTunnelConfig(
        host=sec.get(names["host"], str, required=True),
        port=_port(sec, "port", None),
        user=sec.get("user", str),
        key_file=_key_file(sec, names["key_file"]),
        key_password=key_password,
        remote_host=sec.get(names["remote_host"], str, "127.0.0.1"),
        remote_port=_port(sec, "remote_port", 3306),
        local_host=sec.get(names["local_host"], str, "127.0.0.1"),
        local_port=_port(sec, "local_port", 0, lowest=0),
        source=f"{sec.file}: {sec.key}",
        file=str(sec.file.resolve()),
        legacy=legacy,
    )


def read_gateway(file: str, legacy: bool) -> SshTunnelConfig:
    """The gateway a launched worker uses: read again from the file the launching process
    read it from (`SshTunnelConfig.file`), whatever the config or its `--db` say."""
    if legacy:
        return legacy_ssh(Path(file))
    path = Path(file)
    data = read_yaml(path)
    ssh = native_ssh(Section(path, "database", data.get("database") if isinstance(data, dict) else None))
    if ssh is None:
        raise SshSectionError(f"{path}: database.ssh: the workers' SSH gateway is missing")
    return ssh


def _port(sec: Section, key: str, default: Any, lowest: int = 1) -> Any:
    """A port number; the gateway's defaults to None, so ~/.ssh/config's Port applies."""
    value: Any = sec.get(key, int, default)
    if value is None:
        return None
    if not lowest <= value <= 65535:
        raise sec.error(f"expected a port number in {lowest}..65535", value, key)
    return int(value)


def _key_file(sec: Section, key: str) -> str | None:
    """A private key file; a relative path is relative to the file that names it."""
    value = sec.get(key, str)
    if value is None:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else sec.file.parent / path
    if not path.is_file():
        raise sec.error("expected an existing private key file", value, key)
    return str(path)
