"""The SSH tunnel settings (pure logic): PyExperimenter's Ssh section, `database.ssh`, and
where they end up (never in a repr, never lost on the way to a worker)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pyexperimenter.config import load_config
from pyexperimenter.config.ssh import SshSectionError, legacy_ssh, read_gateway
from pyexperimenter.errors import ConfigError
from pyexperimenter.launch.script import worker_args, worker_environment


def credentials(tmp_path: Path, **ssh: object) -> Path:
    path = tmp_path / "database_credentials.yml"
    path.write_text(yaml.safe_dump({"CREDENTIALS": {"Database": {"user": "u", "password": "pw"},
                                                    "Connection": {"Standard": {"server": "db"}, "Ssh": ssh}}}))
    return path


def test_pyexperimenter_defaults_and_the_passphrase_kept_out_of_repr(tmp_path: Path) -> None:
    ssh = legacy_ssh(credentials(tmp_path, address="gw", ssh_private_key_password="s3cret-pass"))
    # No port: ~/.ssh/config's Port for the host applies, else 22 (sshtunnel's lookup).
    assert (ssh.host, ssh.port, ssh.remote_host, ssh.remote_port, ssh.local_host) == ("gw", None, "127.0.0.1", 3306, "127.0.0.1")
    assert ssh.local_port == 0  # 1.4.2 bound 3306; we take a free port unless told
    assert ssh.key_password == "s3cret-pass" and "s3cret-pass" not in repr(ssh)
    # 1.4.2's example file names the passphrase `passphrase`
    assert legacy_ssh(credentials(tmp_path, address="gw", passphrase="p2")).key_password == "p2"


@pytest.mark.parametrize(("ssh", "message"), [
    ({"port": 22}, "CREDENTIALS.Connection.Ssh.address: is required"),
    ({"address": "gw", "prot": 22}, "CREDENTIALS.Connection.Ssh.prot: unknown key"),
    ({"address": "gw", "port": 70000}, "expected a port number in 1..65535"),
    ({"address": "gw", "ssh_private_key": "missing_key"}, "expected an existing private key file"),
])
def test_a_wrong_ssh_section_names_file_and_key(tmp_path: Path, ssh: dict, message: str) -> None:
    with pytest.raises(SshSectionError, match=message):
        legacy_ssh(credentials(tmp_path, **ssh))


def test_native_ssh_needs_mysql_and_workers_keep_it(tmp_path: Path) -> None:
    config = tmp_path / "experiment.yml"
    body = {"experiment": {"name": "t", "function": "m:f"}, "parameters": {"x": [1]},
            "database": {"url": "mysql://u@db:3306/exps", "ssh": {"host": "gw", "user": "ada", "local_port": 0}}}
    config.write_text(yaml.safe_dump(body))
    loaded = load_config(config)
    assert loaded.database.ssh is not None and loaded.database.ssh.gateway == "ada@gw"
    # A URL cannot carry the gateway: workers get --db and the file to read the gateway from.
    args = worker_args(loaded, "m:f")
    assert args[args.index("--db") + 1] == "mysql://u@db:3306/exps"
    assert args[args.index("--ssh-file") + 1] == str(config.resolve())
    assert args[args.index("--ssh-format") + 1] == "native"
    assert read_gateway(str(config.resolve()), legacy=False) == loaded.database.ssh
    tunnelled = replace(loaded.database, ssh=replace(loaded.database.ssh, key_password="kp"))
    assert worker_environment(tunnelled)["PYEXP_SSH_KEY_PASSWORD"] == "kp"  # the environment, not the script
    body["database"] = {"url": "sqlite:///x.db", "ssh": {"host": "gw"}}
    config.write_text(yaml.safe_dump(body))
    with pytest.raises(ConfigError, match=r"database\.ssh: an SSH tunnel needs a mysql:// database.url"):
        load_config(config)
