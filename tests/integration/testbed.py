"""The multi-host test bed (scripts/netns.sh): worker hosts in network namespaces with their
own host names, a private MariaDB in the database namespace, links a test can cut.

The test itself reaches the database over the server's unix socket (the filesystem is
shared), the workers over their veth link: mysql://root@10.231.0.1:PORT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from support.services import IN_CI, service_missing

ROOT = Path(__file__).resolve().parents[2]
NETNS = ROOT / "scripts" / "netns.sh"
PRIVATE = ROOT / "scripts" / "private_mariadb.sh"
PORT = 3399  # inside the database namespace: no clash with the machine's servers
DB_ADDR = "10.231.0.1"
HOSTS = 3


def netns(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", str(NETNS), *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"netns.sh {' '.join(args)}: {done.stderr.strip()}")
    return done


@dataclass
class Testbed:
    datadir: Path
    __test__ = False  # not a test class, whatever its name

    @property
    def socket(self) -> str:
        return str(self.datadir / "mysqld.sock")

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=self.socket, user="root", password="", database=database, autocommit=True)

    def new_database(self) -> tuple[str, str]:
        """(the URL for workers on the hosts, the URL for the test over the unix socket)."""
        name = f"pyexp_n_{uuid.uuid4().hex[:10]}"
        conn = self.connect()
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
        conn.close()
        return f"mysql://root@{DB_ADDR}:{PORT}/{name}", f"mysql://root@localhost/{name}?unix_socket={self.socket}"

    def worker(self, host: str, config: Path, function: str, log: Path) -> subprocess.Popen[bytes]:
        """`python -m pyexperimenter.worker` on `host` (h1, h2, ...) under its host name."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)])}
        out = log.open("wb")
        cmd = ["bash", str(NETNS), "exec", host, sys.executable, "-m", "pyexperimenter.worker",
               "--config", str(config), "--function", function]
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def start_testbed() -> Iterator[Testbed]:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the network-namespace test bed needs root (CI=true)", pytrace=False)
        pytest.skip("the network-namespace test bed needs root")
    for tool in ("ip", "tc", "unshare"):
        if shutil.which(tool) is None:
            service_missing("the network-namespace test bed", f"{tool} is not installed")
    if not Path("/usr/sbin/mariadbd").exists():
        service_missing("the network-namespace test bed", "mariadbd is not installed (run scripts/services.sh)")
    netns("down", check=False)
    netns("up", str(HOSTS))
    datadir = Path(tempfile.mkdtemp(prefix="pyexp-netns-", dir="/tmp"))
    env = {**os.environ, "PYEXP_PRIVATE_MARIADB_OPTS": f"--bind-address=127.0.0.1,{DB_ADDR}"}
    start = ["bash", str(NETNS), "exec", "db", "bash", str(PRIVATE)]
    done = subprocess.run([*start, "start", str(PORT), str(datadir)], capture_output=True, text=True,
                          timeout=120, env=env)
    if done.returncode != 0:
        netns("down", check=False)
        shutil.rmtree(datadir, ignore_errors=True)
        service_missing("the network-namespace test bed", done.stderr.strip()[-300:])
    bed = Testbed(datadir)
    conn = bed.connect()
    conn.cursor().execute("CREATE USER IF NOT EXISTS 'root'@'10.231.0.%'")
    conn.cursor().execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'10.231.0.%'")
    conn.close()
    try:
        yield bed
    finally:
        subprocess.run([*start, "stop", str(PORT), str(datadir)], capture_output=True, timeout=120)
        netns("down", check=False)
        shutil.rmtree(datadir, ignore_errors=True)


# ----------------------------------------------------------------------------- PostgreSQL
PG_PORT = 5499  # inside the database namespace: no clash with the machine's server on 5432
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


class SocketForward:
    """127.0.0.1:<port> in the test's namespace, forwarded to a unix socket: the test's own
    way to the private PostgreSQL (a URL names no socket directory for PostgreSQL)."""

    def __init__(self, target: str):
        import socket
        import threading

        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: object, dst: object) -> None:
        import socket

        assert isinstance(src, socket.socket) and isinstance(dst, socket.socket)
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


@dataclass
class PostgresTestbed:
    """The same hosts, with a private PostgreSQL (the machine's binaries, run as the
    `postgres` user: it refuses root) in the database namespace instead of MariaDB. The test
    reaches it over its unix socket in `datadir` (through `forward`), the workers over their
    veth link."""

    datadir: Path
    forward: SocketForward
    __test__ = False

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.datadir), port=PG_PORT, user="postgres", dbname=database,
                             autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self) -> tuple[str, str]:
        """(the URL for workers on the hosts, the URL for the test over the unix socket)."""
        name = f"pyexp_n_{uuid.uuid4().hex[:10]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return (f"postgresql://postgres@{DB_ADDR}:{PG_PORT}/{name}",
                f"postgresql://postgres@127.0.0.1:{self.forward.port}/{name}")

    worker = Testbed.worker


def _as_postgres(*args: str) -> list[str]:
    return ["bash", str(NETNS), "exec", "db", "runuser", "-u", "postgres", "--", *args]


def start_postgres_testbed() -> Iterator[PostgresTestbed]:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the network-namespace test bed needs root (CI=true)", pytrace=False)
        pytest.skip("the network-namespace test bed needs root")
    for tool in ("ip", "tc", "unshare", "runuser"):
        if shutil.which(tool) is None:
            service_missing("the network-namespace test bed", f"{tool} is not installed")
    if not PG_BIN or not (PG_BIN[-1] / "pg_ctl").exists():
        service_missing("the network-namespace test bed", "PostgreSQL's server binaries are not installed "
                        "(run scripts/services.sh)")
    bin_dir = PG_BIN[-1]
    netns("down", check=False)
    netns("up", str(HOSTS))
    datadir = Path(tempfile.mkdtemp(prefix="pyexp-netns-pg-", dir="/tmp"))
    shutil.chown(datadir, "postgres", "postgres")
    datadir.chmod(0o700)
    data = datadir / "data"
    steps = [
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"),
        ["sh", "-c", f"echo 'host all all {DB_ADDR.rsplit('.', 1)[0]}.0/24 trust' >> {data}/pg_hba.conf"],
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(datadir / "server.log"), "-w", "-t", "60",
                     "-o", f"-h {DB_ADDR} -p {PG_PORT} -k {datadir} -c fsync=off", "start"),
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            netns("down", check=False)
            shutil.rmtree(datadir, ignore_errors=True)
            service_missing("the network-namespace test bed", (done.stderr or done.stdout).strip()[-300:])
    forward = SocketForward(str(datadir / f".s.PGSQL.{PG_PORT}"))
    try:
        yield PostgresTestbed(datadir, forward)
    finally:
        forward.close()
        subprocess.run(_as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"),
                       capture_output=True, timeout=120)
        netns("down", check=False)
        shutil.rmtree(datadir, ignore_errors=True)
