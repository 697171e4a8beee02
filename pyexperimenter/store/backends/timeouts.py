"""How long a MariaDB connection may stay silent before we call it dead.

A link that dies without a reset (a cable, a switch port, a firewall dropping a node's
packets) leaves the socket open on both ends: without limits a worker waits for a reply
for ever, holding its connection slot and its allocation. Three mechanisms bound it, all
sized from the experiment's `stale_after_seconds`, so that a worker notices a dead
connection (and reconnects, or gives up with one log line) well before other workers
declare its rows lost:

- TCP keepalive (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT): probes a connection on which
  nothing moves, e.g. while we wait for a reply that will never come;
- TCP_USER_TIMEOUT: ends a connection whose sent data stays unacknowledged (a request
  sent into the void), which keepalive does not cover;
- pymysql's read/write timeouts: the backstop for a peer whose TCP stack answers but
  which never replies (a frozen server, a proxy that swallows the traffic). They must
  outlast any statement that waits legitimately, so the server's lock wait is kept below
  them and a floor keeps a busy server from being taken for a dead one.

The server side gets `wait_timeout`: a worker's connection is never idle longer than a
heartbeat or a sweeper's poll, so a connection idle for longer belongs to a vanished
worker, and the server frees its slot and its sweeper lock.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from typing import Any

DEAD_LINK_FLOOR = 2.0  # keepalive probes are whole seconds: below this they cannot be timed
BACKSTOP_FLOOR = 10.0  # a loaded server may take seconds for a statement: not a dead one
LOCK_WAIT_CAP = 20  # what the store always allowed a blocked row lock before retrying
KEEPALIVE_PROBES = 3


@dataclass(frozen=True)
class ConnectionTimeouts:
    connect: float  # TCP connect (pymysql's connect_timeout)
    read: float  # one socket read or write (pymysql's read_timeout / write_timeout)
    keepalive_idle: int  # seconds of silence before the first probe
    keepalive_interval: int  # seconds between probes
    keepalive_probes: int
    user_timeout_ms: int  # unacknowledged data for this long ends the connection
    lock_wait: int  # the session's innodb_lock_wait_timeout, below `read`
    server_idle: int | None  # the session's wait_timeout (workers only)

    @property
    def dead_link_seconds(self) -> float:
        """The longest a silent dead link goes unnoticed by keepalive."""
        return float(self.keepalive_idle + self.keepalive_interval * self.keepalive_probes)

    @classmethod
    def for_timing(cls, heartbeat_seconds: float, stale_after_seconds: float, worker: bool = False) -> ConnectionTimeouts:
        """Notice a dead link within half of `stale_after_seconds` (at least 2 s), and a
        silent peer within max(10 s, stale/2); the defaults (heartbeat 30 s, stale 120 s)
        give 60 s and 60 s."""
        target = max(DEAD_LINK_FLOOR, stale_after_seconds / 2)
        interval = max(1, int(target // (KEEPALIVE_PROBES + 1)))
        idle = max(1, int(target) - KEEPALIVE_PROBES * interval)
        read = max(BACKSTOP_FLOOR, stale_after_seconds / 2)
        lock_wait = max(1, min(LOCK_WAIT_CAP, int(read / 2)))
        # Never idle for longer than a heartbeat or a poll of the sweeper (<= stale/4): twice
        # stale plus a margin is surely a vanished worker. MariaDB counts whole seconds.
        server_idle = max(10, math.ceil(2 * stale_after_seconds + heartbeat_seconds)) if worker else None
        return cls(
            connect=min(10.0, max(DEAD_LINK_FLOOR, target)),
            read=read,
            keepalive_idle=idle,
            keepalive_interval=interval,
            keepalive_probes=KEEPALIVE_PROBES,
            user_timeout_ms=int(target * 1000),
            lock_wait=lock_wait,
            server_idle=server_idle,
        )

    def apply(self, sock: Any) -> None:
        """Set keepalive and the user timeout on a connected socket (Linux names; other
        systems keep what they have)."""
        if sock is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return  # a unix socket has no link to lose
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", self.keepalive_idle),
            ("TCP_KEEPINTVL", self.keepalive_interval),
            ("TCP_KEEPCNT", self.keepalive_probes),
            ("TCP_USER_TIMEOUT", self.user_timeout_ms),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


DEFAULT_TIMEOUTS = ConnectionTimeouts.for_timing(30.0, 120.0)
