"""SSH tunnels to a database behind a gateway (PyExperimenter's `use_ssh_tunnel`).

One tunnel per process and gateway, opened on the first connection and reopened when its
SSH session dies. Per process, because nothing else works everywhere: a forked worker
cannot use its parent's forwarding threads (fork copies one thread), and SLURM tasks run on
other nodes. A tunnel listens on a free local port unless `local_port` is given, so the
workers of one node never fight over a port. A forked child forgets the tunnels it
inherited without touching the parent's sockets, and opens its own.

sshtunnel is an optional extra: it is imported only when a tunnel is asked for. Its log
goes to a private logger, so a failure is one line of ours, never its traceback or its
log, and never the key's passphrase.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections import deque
from typing import Any

from ...errors import TunnelError
from ..types import SshGateway

EXTRA_HINT = "pip install 'pyexperimenter[sshtunnel]'"
KEEPALIVE_SECONDS = 15.0

_lock = threading.Lock()
_tunnels: dict[SshGateway, Any] = {}  # this process's running forwarders


def endpoint(ssh: SshGateway) -> tuple[str, int]:
    """(host, port) to connect to instead of the database: this process's tunnel, opened now
    if it is not running."""
    with _lock:
        forwarder = _tunnels.get(ssh)
        if forwarder is None or not (forwarder.is_active and forwarder.is_alive):
            if forwarder is not None:
                _stop(_tunnels.pop(ssh))
            forwarder = _tunnels[ssh] = _open(ssh)
        return ssh.local_host, int(forwarder.local_bind_port)


def close(ssh: SshGateway | None = None) -> bool:
    """Stops this process's tunnel through `ssh` (all tunnels for None); True if one ran.
    Connections through it die with it; a later connection opens a new one."""
    with _lock:
        keys = [k for k in _tunnels if ssh is None or k == ssh]
        for key in keys:
            _stop(_tunnels.pop(key))
        return bool(keys)


def _open(ssh: SshGateway) -> Any:
    try:
        import sshtunnel
    except ImportError:
        raise TunnelError(f"{ssh.source}: an SSH tunnel needs the sshtunnel extra: {EXTRA_HINT}") from None
    messages: deque[str] = deque(maxlen=8)
    kwargs: dict[str, Any] = {
        # Without a port, sshtunnel takes the host's HostName and Port from ~/.ssh/config (else 22).
        "ssh_address_or_host": (ssh.host, ssh.port) if ssh.port else ssh.host,
        "ssh_username": ssh.user,
        "ssh_private_key_password": ssh.key_password,
        "remote_bind_address": (ssh.remote_host, ssh.remote_port),
        "local_bind_address": (ssh.local_host, ssh.local_port),
        "logger": _private_logger(messages),
        "set_keepalive": KEEPALIVE_SECONDS,
    }
    if ssh.key_file:  # the named key only: a login must not depend on what else ~/.ssh holds
        kwargs.update(ssh_pkey=ssh.key_file, allow_agent=False, host_pkey_directories=[])
    forwarder = None
    try:
        forwarder = sshtunnel.SSHTunnelForwarder(**kwargs)
        forwarder.start()
        port = forwarder.local_bind_port  # raises unless the forward really listens
    except Exception as e:
        if forwarder is not None:
            _discard(forwarder)
        raise TunnelError(
            f"{ssh.source}: cannot open the SSH tunnel through {ssh.gateway} to "
            f"{ssh.remote_host}:{ssh.remote_port}: {_reason(ssh, e, messages, forwarder)}"
        ) from None
    logging.getLogger("pyexperimenter").debug("ssh tunnel %s:%s -> %s -> %s:%s", ssh.local_host, port,
                                              ssh.gateway, ssh.remote_host, ssh.remote_port)
    return forwarder


def _reason(ssh: SshGateway, error: BaseException, messages: deque[str], forwarder: Any = None) -> str:
    """What went wrong, in the user's terms; sshtunnel says it only in its log."""
    # The address it really tried, after ~/.ssh/config's HostName and Port.
    host, port = getattr(forwarder, "ssh_host", ssh.host), getattr(forwarder, "ssh_port", ssh.port or 22)
    said = " | ".join(messages)
    if "Password is required" in said:
        return f"the key {ssh.key_file} is encrypted; give its passphrase (ssh_private_key_password or PYEXP_SSH_KEY_PASSWORD)"
    if "No password or public key" in str(error):
        if ssh.key_file:
            return f"cannot read the private key {ssh.key_file} (wrong passphrase, or not a private key)"
        return "no private key found (ssh agent, ~/.ssh/id_*, ~/.ssh/config); name one with ssh_private_key"
    if "Could not resolve" in said:
        return f"unknown host {ssh.host!r}"
    if "Could not connect to gateway" in said:
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as e:
            return f"cannot connect to {host}:{port}: {e.strerror or e}"
        return f"{host}:{port} does not speak SSH"
    if "Could not open connection to gateway" in said:
        return f"the gateway refused the key(s) for user {ssh.user or 'from ~/.ssh/config or the local user'}"
    if "Problem setting SSH Forwarder up" in said or isinstance(error, OSError):
        return f"cannot listen on {ssh.local_host}:{ssh.local_port} (in use?); leave local_port out to use a free port"
    return said or str(error) or type(error).__name__


def _private_logger(messages: deque[str]) -> logging.Logger:
    """A logger outside the logging tree (nothing propagates to the user's handlers) that
    keeps sshtunnel's last error messages for `_reason`."""
    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.Logger("pyexperimenter.ssh", logging.ERROR)
    logger.addHandler(Keep(logging.ERROR))
    paramiko_log = logging.getLogger("paramiko.transport")
    if not paramiko_log.handlers:  # else sshtunnel hands it our handler, for good
        paramiko_log.addHandler(logging.NullHandler())
    return logger


def _stop(forwarder: Any) -> None:
    try:
        forwarder.stop(force=True)
    except Exception:
        pass


def _discard(forwarder: Any, close_transport: bool = True) -> None:
    """Releases a forwarder whose start failed. Its listening sockets may exist with nobody
    serving them, and sshtunnel's stop() would wait forever for that server loop to end."""
    for server in getattr(forwarder, "_server_list", []):
        server.socket.close()
    transport = forwarder.__dict__.pop("_transport", None)
    if transport is not None:
        if close_transport:
            transport.close()
        elif getattr(transport, "sock", None) is not None:
            transport.sock.close()  # only this process's copy: the parent's session stays up
    forwarder._server_list = []
    forwarder.is_alive = False


def _forget_inherited() -> None:
    """In a forked child: drop the parent's tunnels, closing only the child's copies of their
    sockets (closing a copy leaves the parent's tunnel up), so no finalizer ever stops them."""
    global _lock
    _lock = threading.Lock()  # a parent's thread may have held it at the fork
    for forwarder in _tunnels.values():
        _discard(forwarder, close_transport=False)
    _tunnels.clear()


os.register_at_fork(after_in_child=_forget_inherited)
atexit.register(close)
