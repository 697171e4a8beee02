"""The test SSH gateway that scripts/sshd.sh runs, and what tests need to check a tunnel.

PYEXP_TEST_SSHD (default ssh://root@127.0.0.1:2222) is the gateway; PYEXP_SSHD_DIR
(default /var/lib/pyexp-sshd) holds its client keys. Without them, tests that claim the
gateway are skipped on a laptop and fail under CI=true.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from support.services import service_missing

SSHD = os.environ.get("PYEXP_TEST_SSHD", "ssh://root@127.0.0.1:2222")
SSHD_DIR = Path(os.environ.get("PYEXP_SSHD_DIR", "/var/lib/pyexp-sshd"))


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int
    user: str
    key: Path  # authorized, no passphrase
    key_with_passphrase: Path  # authorized, encrypted with `passphrase`
    passphrase: str
    wrong_key: Path  # a valid key the gateway does not accept


def ssh_gateway() -> Gateway:
    parts = urlsplit(SSHD)
    gateway = Gateway(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 22,
        user=parts.username or "root",
        key=SSHD_DIR / "client_ed25519",
        key_with_passphrase=SSHD_DIR / "client_ed25519_pass",
        passphrase=(SSHD_DIR / "client_passphrase").read_text().strip() if (SSHD_DIR / "client_passphrase").is_file() else "",
        wrong_key=SSHD_DIR / "other_ed25519",
    )
    missing = [str(p) for p in (gateway.key, gateway.key_with_passphrase, gateway.wrong_key) if not p.is_file()]
    if missing:
        service_missing("the test sshd", f"no client key {missing[0]} (scripts/sshd.sh makes it)")
    try:
        with socket.create_connection((gateway.host, gateway.port), timeout=5) as sock:
            banner = sock.recv(4)
    except OSError as e:
        service_missing("the test sshd", f"{gateway.host}:{gateway.port}: {e}")
    if banner != b"SSH-":
        service_missing("the test sshd", f"{gateway.host}:{gateway.port} does not greet like an SSH server")
    return gateway


def port_owner(local_port: int) -> tuple[int, str] | None:
    """(pid, name) of the process holding the TCP socket whose local port is `local_port`
    (Linux /proc; no ss or lsof needed), or None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name), (proc / "comm").read_text().strip()
        except OSError:
            continue
    return None
