"""A real nginx on loopback, configured from docs/gateway/nginx.conf, and an upstream that echoes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.gateway import documented_site, nginx_binary, nginx_process
from tests.support.service import free_port

__all__ = ["echo_upstream", "nginx", "nginx_binary"]


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received: method, path and headers, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _answer

    def log_message(self, *args) -> None:
        pass


@contextmanager
def echo_upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def nginx(binary: str, prefix: Path, auth_port: int, upstream_port: int) -> Iterator[str]:
    """docs/gateway/nginx.conf, as documented, in front of `upstream_port`, asking the service at `auth_port`."""
    port = free_port()
    with nginx_process(binary, prefix, documented_site(auth_port, upstream_port, port), (port,)):
        yield f"http://127.0.0.1:{port}"
