"""SSH tunnels (issue 10): PyExperimenter's `use_ssh_tunnel` and our `database.ssh`, through
the real sshd of scripts/sshd.sh to the real MariaDB, and the one-line failures."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support.services import service_missing
from support.ssh import Gateway, port_owner, ssh_gateway

from pyexperimenter.store import tunnel

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 2
  Database:
    provider: mysql
    database: {database}
{use_ssh}    table:
      name: tunnelled
      keyfields:
        x: {{type: INT, values: {{start: 0, stop: 6}}}}
      resultfields:
        y: INT
"""


@pytest.fixture
def gateway() -> Gateway:
    return ssh_gateway()


def write(folder: Path, mysql_url: str, gateway: Gateway, use_ssh: bool = False, **ssh: Any) -> tuple[Path, Path]:
    """A PyExperimenter config and its credentials file, whose Ssh section leads through the gateway."""
    url = urlsplit(mysql_url)
    config = folder / "experiment.yml"
    config.write_text(CONFIG.format(database=url.path.lstrip("/"), use_ssh="    use_ssh: true\n" if use_ssh else ""))
    section = {"server": "127.0.0.1", "address": gateway.host, "port": gateway.port, "user": gateway.user,
               "ssh_private_key": str(gateway.key), "remote_address": url.hostname, "remote_port": url.port or 3306}
    section.update(ssh)
    creds = folder / "database_credentials.yml"
    creds.write_text(yaml.safe_dump({"CREDENTIALS": {
        "Database": {"user": url.username or "root", "password": url.password or ""},
        # A direct route that leads nowhere: only the tunnel can reach the database.
        "Connection": {"Standard": {"server": "127.0.0.1", "port": 9}, "Ssh": section},
    }}))
    return config, creds


def experiment(parameters: dict, result_processor: Any, custom_config: dict) -> None:
    result_processor.process_results({"y": parameters["x"] * 2})


def pyexp(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyexperimenter.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def test_pyexperimenter_runs_through_the_tunnel(tmp_path: Path, mysql_url: str, gateway: Gateway,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexperimenter.experimenter import PyExperimenter

    monkeypatch.chdir(tmp_path)
    config, creds = write(tmp_path, mysql_url, gateway)
    exp = PyExperimenter(str(config), str(creds), use_ssh_tunnel=True, use_codecarbon=False, log_file=None)
    ssh = exp.config.database.ssh
    assert ssh is not None and ssh.key_file == str(gateway.key)
    assert exp.fill_table_from_config() == 6
    exp.execute(experiment, n_jobs=2)  # forked workers, each through a tunnel of its own
    table = exp.get_table()
    assert sorted(zip(table.x, table.y)) == [(x, 2 * x) for x in range(6)]
    assert set(table.status) == {"done"}

    # The session runs through the tunnel: our end is the tunnel's local port, and the
    # server sees the session coming from the gateway's sshd, not from this process.
    local_host, local_port = tunnel.endpoint(ssh)
    conn = exp.store.session.conn  # type: ignore[attr-defined]
    assert conn._sock.getpeername()[:2] == (local_host, local_port)
    assert local_port != (urlsplit(mysql_url).port or 3306)
    owner = port_owner(server_side_port(exp))
    assert owner is not None and owner[1] == "sshd"

    exp.close_ssh()
    with pytest.raises(OSError):  # the forward is gone: nothing listens on its port any more
        socket.create_connection((local_host, local_port), timeout=5).close()
    assert len(exp.get_table()) == 6  # a later call opens a new tunnel, as 1.4.2 kept working
    exp.close_ssh()


def server_side_port(exp: Any) -> int:
    """The client port of this session as the server sees it."""
    with exp.store.session.conn.cursor() as cur:
        cur.execute("SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()")
        return int(cur.fetchone()[0].rsplit(":", 1)[1])


def test_a_dropped_tunnel_is_opened_again(tmp_path: Path, mysql_url: str, gateway: Gateway,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's session process dies (killed by pid): the next call reconnects through a
    new tunnel, like any dropped connection, and nothing is lost."""
    from pyexperimenter.experimenter import PyExperimenter

    monkeypatch.chdir(tmp_path)
    config, creds = write(tmp_path, mysql_url, gateway)
    exp = PyExperimenter(str(config), str(creds), use_ssh_tunnel=True, use_codecarbon=False, log_file=None)
    assert exp.fill_table_from_config() == 6
    ssh = exp.config.database.ssh
    assert ssh is not None
    tunnel.endpoint(ssh)
    before = tunnel._tunnels[ssh]  # held here, so a new forwarder cannot reuse its id
    owner = port_owner(server_side_port(exp))
    assert owner is not None and owner[1] == "sshd"
    os.kill(owner[0], signal.SIGKILL)
    assert len(exp.get_table()) == 6  # on the store's connection, which died with the tunnel
    # A new tunnel (the kernel may hand the same free port back, so not its port): a new
    # forwarder, and the session now runs through a live sshd process.
    tunnel.endpoint(ssh)
    assert tunnel._tunnels[ssh] is not before and not before.is_alive
    after = port_owner(server_side_port(exp))
    assert after is not None and after[1] == "sshd" and after[0] != owner[0]
    exp.execute(experiment, max_experiments=2)
    assert sorted(exp.get_table().status) == ["created"] * 4 + ["done"] * 2
    exp.close_ssh()


def test_use_ssh_in_the_config_and_false_overriding_it(tmp_path: Path, mysql_url: str, gateway: Gateway,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexperimenter.experimenter import PyExperimenter

    monkeypatch.chdir(tmp_path)
    config, creds = write(tmp_path, mysql_url, gateway, use_ssh=True)
    exp = PyExperimenter(str(config), str(creds), use_codecarbon=False, log_file=None)
    assert exp.config.database.ssh is not None
    assert exp.fill_table_from_config() == 6
    exp.close_ssh()
    direct = PyExperimenter(str(config), str(creds), use_ssh_tunnel=False, use_codecarbon=False, log_file=None)
    assert direct.config.database.ssh is None and direct.config.database.port == 9  # the Standard route
    from pyexperimenter.errors import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable, match="127.0.0.1:9"):
        direct.get_table()
    data = yaml.safe_load(creds.read_text())
    del data["CREDENTIALS"]["Connection"]["Ssh"]
    creds.write_text(yaml.safe_dump(data))  # False never reads the Ssh section, as in 1.4.2
    assert PyExperimenter(str(config), str(creds), use_ssh_tunnel=False, use_codecarbon=False,
                          log_file=None).config.database.ssh is None


@pytest.mark.parametrize("case", ["wrong key", "refused port", "no Ssh section", "wrong passphrase"])
def test_a_failed_tunnel_is_one_ssh_tunnel_error(case: str, tmp_path: Path, mysql_url: str, gateway: Gateway,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexperimenter.exceptions import SshTunnelError
    from pyexperimenter.experimenter import PyExperimenter

    monkeypatch.chdir(tmp_path)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    changes: dict[str, Any] = {
        "wrong key": {"ssh_private_key": str(gateway.wrong_key)},
        "refused port": {"port": closed_port},
        "no Ssh section": {},
        "wrong passphrase": {"ssh_private_key": str(gateway.key_with_passphrase), "ssh_private_key_password": "not-it"},
    }[case]
    expected = {"wrong key": "refused the key", "refused port": "Connection refused",
                "no Ssh section": "CREDENTIALS.Connection.Ssh", "wrong passphrase": "cannot read the private key"}[case]
    config, creds = write(tmp_path, mysql_url, gateway, use_ssh=True, **changes)
    if case == "no Ssh section":
        data = yaml.safe_load(creds.read_text())
        del data["CREDENTIALS"]["Connection"]["Ssh"]
        creds.write_text(yaml.safe_dump(data))
    with pytest.raises(SshTunnelError, match=expected):
        PyExperimenter(str(config), str(creds), use_ssh_tunnel=True, use_codecarbon=False, log_file=None)
    result = pyexp("status", str(config), cwd=tmp_path)  # use_ssh: true in the config
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert "not-it" not in result.stderr + result.stdout


def test_passphrase_protected_key_and_the_cli(tmp_path: Path, mysql_url: str, gateway: Gateway) -> None:
    config, creds = write(tmp_path, mysql_url, gateway, use_ssh=True, ssh_private_key=str(gateway.key_with_passphrase),
                          ssh_private_key_password=gateway.passphrase)
    fill = pyexp("fill", str(config), cwd=tmp_path)
    assert fill.returncode == 0, fill.stderr
    status = pyexp("status", str(config), "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert '"total": 6' in status.stdout
    for out in (fill, status):
        assert gateway.passphrase not in out.stdout + out.stderr


@pytest.mark.parametrize("where", ["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def test_launched_workers_use_the_launching_process_tunnel(where: str, tmp_path: Path, mysql_url: str,
                                                           gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """`use_ssh_tunnel=True` (the config says nothing of SSH), a credentials file outside the
    config's folder and a `database_name` override: launched workers (and forked ones) use
    exactly that database through that gateway; the Standard route leads nowhere."""
    from pyexperimenter.experimenter import PyExperimenter

    if where == "slurm" and (shutil.which("sbatch") is None
                             or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0):
        service_missing("SLURM", "sbatch/sinfo not usable (scripts/services.sh)")
    monkeypatch.chdir(tmp_path)
    project, secrets = tmp_path / "project", tmp_path / "secrets"
    project.mkdir()
    secrets.mkdir()
    config, creds = write(project, mysql_url, gateway, ssh_private_key=str(gateway.key_with_passphrase),
                          ssh_private_key_password=gateway.passphrase)
    outside = creds.rename(secrets / "db.yml")
    database = urlsplit(mysql_url).path.lstrip("/")
    config.write_text(config.read_text().replace(f"database: {database}", "database: not_this_one"))
    (project / "tunnel_exps.py").write_text("def run(parameters, result_processor, custom_config):\n"
                                            "    result_processor.process_results({'y': parameters['x'] * 2})\n")
    exp = PyExperimenter(str(config), str(outside), use_ssh_tunnel=True, database_name=database,
                         use_codecarbon=False, log_file=None)
    assert exp.fill_table_from_config() == 6
    slurm = {} if where == "local" else {"partition": "debug", "time_minutes": 5, "mem_gb": 1}
    result = exp.launch("tunnel_exps:run", workers=2, local=where == "local", wait=True, **slurm)
    logs = "".join(p.read_text() for p in (result.log_dir or tmp_path).glob("*.log"))
    assert result.exit_codes in ([0, 0], []), logs
    for script in result.scripts:  # the gateway's file is named, its passphrase is not
        assert f"--ssh-file {outside}" in script and "--ssh-format pyexperimenter" in script
        assert gateway.passphrase not in script
    table = exp.get_table()
    assert sorted(zip(table.x, table.y)) == [(x, 2 * x) for x in range(6)], logs
    if where == "local":  # forked workers keep the same database and gateway
        assert exp.reset_experiments("done") == 6
        exp.execute(experiment, n_jobs=2)
        assert set(exp.get_table().status) == {"done"}
    exp.close_ssh()


def write_native(folder: Path, mysql_url: str, gateway: Gateway) -> None:
    url = urlsplit(mysql_url)
    (folder / "exps.py").write_text("def run(parameters, result_processor, custom_config):\n"
                                    "    return {'y': parameters['x'] + 1}\n")
    (folder / "experiment.yml").write_text(yaml.safe_dump({
        "experiment": {"name": "native_tunnel", "function": "exps:run"},
        # Port 9 leads nowhere: the rows can only have come through the gateway.
        "database": {"url": f"mysql://{url.username or 'root'}@127.0.0.1:9{url.path}",
                     "ssh": {"host": gateway.host, "port": gateway.port, "user": gateway.user,
                             "key_file": str(gateway.key), "remote_host": url.hostname,
                             "remote_port": url.port or 3306}},
        "parameters": {"x": [1, 2, 3]},
        "results": {"y": "INT"},
    }))


def test_native_database_ssh(tmp_path: Path, mysql_url: str, gateway: Gateway) -> None:
    url = urlsplit(mysql_url)
    write_native(tmp_path, mysql_url, gateway)
    env = {**os.environ, "PYEXP_DB_PASSWORD": url.password or ""}
    for args in (["fill", "experiment.yml"], ["run", "experiment.yml", "--jobs", "2"]):
        result = pyexp(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    result = pyexp("results", "experiment.yml", "--format", "csv", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert sorted((row["x"], row["y"]) for row in csv.DictReader(io.StringIO(result.stdout))) == [
        ("1", "2"), ("2", "3"), ("3", "4")]


def test_ssh_config_gives_the_gateway_port_and_hostname(tmp_path: Path, mysql_url: str, gateway: Gateway) -> None:
    """`database.ssh` names only a `Host` alias and no port: HostName, Port and User come
    from ~/.ssh/config (a temporary HOME), as the docs say; port 22 would find no sshd."""
    url = urlsplit(mysql_url)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(f"Host pyexp-test-gateway\n  HostName {gateway.host}\n"
                                          f"  Port {gateway.port}\n  User {gateway.user}\n")
    write_native(tmp_path, mysql_url, gateway)
    body = yaml.safe_load((tmp_path / "experiment.yml").read_text())
    body["database"]["ssh"] = {"host": "pyexp-test-gateway", "key_file": str(gateway.key),
                               "remote_host": url.hostname, "remote_port": url.port or 3306}
    (tmp_path / "experiment.yml").write_text(yaml.safe_dump(body))
    env = {**os.environ, "HOME": str(home), "PYEXP_DB_PASSWORD": url.password or ""}
    for args in (["fill", "experiment.yml"], ["status", "experiment.yml", "--json"]):
        result = pyexp(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
    assert '"total": 3' in result.stdout


def test_without_the_extra_the_message_names_it(tmp_path: Path, mysql_url: str, gateway: Gateway) -> None:
    config, creds = write(tmp_path, mysql_url, gateway, use_ssh=True)
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(  # sshtunnel as if it were not installed
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sshtunnel':\n"
        "            raise ModuleNotFoundError(\"No module named 'sshtunnel'\")\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {**os.environ, "PYTHONPATH": str(block)}
    hint = "pip install 'pyexperimenter[sshtunnel]'"
    result = pyexp("status", str(config), cwd=tmp_path, env=env)
    assert result.returncode == 2 and hint in result.stderr and result.stderr.count("\n") == 1, result.stderr
    script = ("from pyexperimenter.exceptions import SshTunnelError\n"
              "from pyexperimenter.experimenter import PyExperimenter\n"
              "try:\n"
              f"    PyExperimenter({str(config)!r}, {str(creds)!r}, use_codecarbon=False, log_file=None)\n"
              "except SshTunnelError as e:\n"
              "    print('SshTunnelError:', e)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=60)
    assert "SshTunnelError:" in result.stdout and hint in result.stdout, result.stdout + result.stderr


@pytest.mark.slurm
def test_slurm_workers_open_their_own_tunnels(tmp_path: Path, mysql_url: str, gateway: Gateway) -> None:
    """`pyexp launch` on the real cluster: the workers get --db and --ssh-file (a URL cannot
    carry the gateway), read `database.ssh` from the config and reach the database only through it."""
    if shutil.which("sbatch") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        service_missing("SLURM", "sbatch/sinfo not usable (scripts/services.sh)")
    write_native(tmp_path, mysql_url, gateway)
    env = {**os.environ, "PYEXP_DB_PASSWORD": urlsplit(mysql_url).password or ""}
    for args in (["fill", "experiment.yml"],
                 ["launch", "experiment.yml", "--workers", "2", "--partition", "debug", "--time-minutes", "5",
                  "--mem-gb", "1", "--wait"]):
        result = pyexp(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    result = pyexp("results", "experiment.yml", "--format", "csv", cwd=tmp_path, env=env)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted((row["x"], row["y"]) for row in rows) == [("1", "2"), ("2", "3"), ("3", "4")]
    assert all(row["pyexp_job_id"] for row in rows)
