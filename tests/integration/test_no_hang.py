"""No MariaDB call waits for ever: timeouts sized from the heartbeat, keepalive on the socket,
and a connection that goes silent (a proxy swallowing its packets, the issue's scenario)
is replaced instead of hanging the worker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyexperimenter import Experimenter
from pyexperimenter.store import WorkerIdentity, open_store, schema_of
from pyexperimenter.store.backends.mysql import MySQLStore
from pyexperimenter.store.backends.timeouts import DEFAULT_TIMEOUTS, ConnectionTimeouts


def test_timeouts_notice_a_dead_link_well_inside_stale_after() -> None:
    for heartbeat, stale in [(30, 120), (1, 6), (5, 20), (60, 600), (0.5, 2)]:
        t = ConnectionTimeouts.for_timing(heartbeat, stale, worker=True)
        assert t.dead_link_seconds <= max(4.0, stale / 2), (heartbeat, stale)
        assert t.user_timeout_ms <= max(2.0, stale / 2) * 1000
        assert t.lock_wait < t.read  # a legitimate lock wait ends before the backstop
        assert t.server_idle is not None and t.server_idle >= 2 * stale + heartbeat
    assert DEFAULT_TIMEOUTS.dead_link_seconds == 60 and DEFAULT_TIMEOUTS.read == 60
    assert DEFAULT_TIMEOUTS.lock_wait == 20 and DEFAULT_TIMEOUTS.server_idle is None


def _config(tmp_path: Path, url: str, **experiment: Any) -> Path:
    path = tmp_path / "experiment.yml"
    data = {
        "experiment": {"name": "nohang", "heartbeat_seconds": 1, "stale_after_seconds": 6, **experiment},
        "database": {"url": url},
        "parameters": {"x": {"start": 0, "stop": 4}},
        "results": {"value": "DOUBLE"},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_worker_connection_carries_keepalive_and_session_limits(tmp_path: Path, mysql_url: str) -> None:
    exp = Experimenter(_config(tmp_path, mysql_url))
    exp.fill_table_from_config()
    store = open_store(exp.config, worker=True)
    assert isinstance(store, MySQLStore)
    try:
        sock = store.session.conn._sock  # type: ignore[union-attr]
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        t = store.session.timeouts
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == t.keepalive_idle
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == t.keepalive_interval
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == t.keepalive_probes
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == t.user_timeout_ms
        cur = store.session.conn.cursor()  # type: ignore[union-attr]
        cur.execute("SELECT @@session.wait_timeout, @@session.innodb_lock_wait_timeout")
        assert cur.fetchone() == (t.server_idle, t.lock_wait)
    finally:
        store.close()
        exp.close()


class SilentProxy:
    """A TCP proxy in front of MariaDB that can go silent: it swallows what either side
    sends but keeps the sockets open, as a dead link behind a proxy or NAT does. New
    connections are forwarded again after `heal()`; with `heal(old_ones_too=False)` the
    old ones stay dead for ever (the case that hung workers)."""

    def __init__(self, port: int):
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.silent = False
        self.generation = 0  # connections from before a silence stay dead when not healed
        self.dead_below = 0
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._socks += [client, server]
            gen = self.generation
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b, gen), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, gen: int) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.silent or gen < self.dead_below:
                continue  # swallowed
            try:
                dst.sendall(data)
            except OSError:
                return

    def go_silent(self) -> None:
        self.silent = True

    def heal(self, old_ones_too: bool) -> None:
        self.generation += 1
        if not old_ones_too:
            self.dead_below = self.generation
        self.silent = False

    def close(self) -> None:
        self.listener.close()
        for s in self._socks:
            s.close()


@pytest.fixture
def proxy(mysql_url: str) -> Iterator[SilentProxy]:
    p = SilentProxy(3306)
    yield p
    p.close()


@pytest.mark.parametrize("old_ones_too", [True, False], ids=["healed", "old-connections-dead"])
def test_a_silent_connection_is_replaced_not_waited_for(
    tmp_path: Path, mysql_url: str, proxy: SilentProxy, old_ones_too: bool
) -> None:
    exp = Experimenter(_config(tmp_path, mysql_url))
    exp.fill_table_from_config()
    db = replace(exp.config.database, host="127.0.0.1", port=proxy.port)
    timeouts = ConnectionTimeouts.for_timing(0.5, 4, worker=True)
    store = MySQLStore(schema_of(exp.config), db, timeouts=timeouts)
    try:
        [claim] = store.claim(WorkerIdentity.current())
        proxy.go_silent()
        healer = threading.Timer(1.0, proxy.heal, args=(old_ones_too,))
        healer.start()
        started = time.monotonic()
        assert store.heartbeat(claim.token) == 1  # on a new connection
        took = time.monotonic() - started
        assert took < timeouts.read + 6, took
        assert store.finish(claim.token, [(claim.id, {"value": 1.0})]) == {claim.id}
    finally:
        store.close()
        exp.close()
    assert exp.get_table().set_index("ID").loc[claim.id, "status"] == "done"
