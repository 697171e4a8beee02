"""`pyexp dashboard`: the report's page served live, read-only, from the standard library.

GET / is the page, GET /data its data as JSON (fetched by the page every few seconds);
every other path is 404 and every other method 405: nothing on the server writes. It binds to
127.0.0.1 unless told otherwise, so on a cluster it is reached through an ssh port forward.
Data requests within one interval share one set of queries, however many tabs are open.

Only requests naming this server in their Host header are answered (421 otherwise): a web
page the researcher visits could otherwise point a name of its own at 127.0.0.1 (DNS
rebinding) and read `/data` (tracebacks, host and worker names, best rows) as same-origin.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ...errors import InputError
from ...experiment import Experimenter
from ..report_data import ReportOptions, check_options, report_data
from .report import page, payload, plotly_js


class Dashboard(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, exp: Experimenter, opts: ReportOptions, host: str = "127.0.0.1", port: int = 8050,
                 interval_seconds: float = 3.0):
        plotly_js()  # the missing extra is one line, before binding a port
        check_options(exp, opts)
        self.exp, self.opts, self.interval = exp, opts, interval_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, bytes] | None = None
        try:
            super().__init__((host, port), _Handler)
        except OSError as e:  # in use, not an address of this machine, a privileged port
            raise InputError(f"--port {port}: cannot listen on {host}:{port}: {e.strerror or e}") from None
        self.hosts = self.allowed_hosts()

    def allowed_hosts(self) -> set[str]:
        """The names this server answers to: loopback names, the address it is bound to, and
        this machine's names and addresses (an ssh port forward sends `localhost`)."""
        bound = str(self.server_address[0])
        host = socket.gethostname()
        names = {"localhost", "127.0.0.1", "::1", bound, host, socket.getfqdn()}
        if bound in ("0.0.0.0", "::", ""):
            try:
                names |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
            except OSError:
                pass
        return {n.lower() for n in names}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"

    def data(self) -> dict[str, Any]:
        """Fresh aggregates (one query set at a time: the store is shared by the threads)."""
        with self._lock:
            return report_data(self.exp, self.opts)

    def data_json(self) -> bytes:
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.interval / 2:
                return self._cached[1]
        body = json.dumps(payload(self.data()), default=str, allow_nan=False).encode()
        with self._lock:
            self._cached = (time.monotonic(), body)
        return body

    def page_html(self) -> bytes:
        return page(self.data(), data_url="data", interval_seconds=self.interval).encode()


class _Handler(BaseHTTPRequestHandler):
    server: Dashboard

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):  # [::1]:8050
            name = host[1:host.find("]")] if "]" in host else ""
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return bool(name) and name.rstrip(".") in self.server.hosts

    def do_GET(self) -> None:
        if not self._host_allowed():
            self._send(421, "text/plain; charset=utf-8", b"unknown host\n")
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", self.server.page_html())
        elif path == "/data":
            self._send(200, "application/json", self.server.data_json())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _refuse(self) -> None:
        self._send(405, "text/plain; charset=utf-8", b"read-only\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # one line per refresh would bury the URL the user needs


def tunnel_hint(port: int) -> str:
    """The line to run on a laptop to reach a dashboard on this machine."""
    return f"ssh -N -L {port}:127.0.0.1:{port} {socket.gethostname()}"


def serve(exp: Experimenter, opts: ReportOptions, host: str, port: int, interval_seconds: float,
          ready: Any = None) -> None:
    """Serve until Ctrl-C; `ready(server)` is called once the port is bound (to print the URL)."""
    with Dashboard(exp, opts, host, port, interval_seconds) as server:
        if ready is not None:
            ready(server)
        try:
            server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            return
