"""An HTTP front for the real service whose behaviour a test switches: pass requests through,
or be down, slow, failing with 5xx, or answering garbage. The app under test only knows its URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

PASS, DOWN, SLOW, ERROR_500, BAD_GATEWAY, GARBAGE, WRONG_SHAPE = (
    "pass", "down", "slow", "500", "502", "garbage", "wrong-shape"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultyFront:
    def __init__(self, upstream: str, echo_secret: str = "") -> None:
        self.upstream = upstream
        self.mode = PASS
        self.echo_secret = echo_secret  # a broken server that echoes a credential back must not get it shown
        self.requests: list[tuple[str, str, str]] = []  # (mode, method, path) as they arrived
        self._release = threading.Event()
        self._http = httpx.Client(base_url=upstream, timeout=30)
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _any(self) -> None:
                try:
                    front._handle(self)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): fine
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, mode: str) -> None:
        self.mode = mode

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        self.requests.append((mode, request.command, request.path))
        if mode == DOWN:
            request.close_connection = True
            request.connection.close()  # gone without a word, like a crashed server
            return
        if mode == SLOW:
            self._release.wait(30)  # longer than any client timeout under test; released at close
            request.close_connection = True
            return
        if mode == ERROR_500:
            return _reply(request, 500, "text/html", b"<html><body><h1>500 Internal Server Error</h1></body></html>")
        if mode == BAD_GATEWAY:
            return _reply(request, 502, "text/html", b"<html><body>502 Bad Gateway (nginx)</body></html>")
        if mode == GARBAGE:
            return _reply(request, 200, "application/json", b"{not json at all " + self.echo_secret.encode())
        if mode == WRONG_SHAPE:
            return _reply(request, 200, "application/json", b'{"unexpected": "' + self.echo_secret.encode() + b'"}')
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = self._http.request(request.command, request.path, headers=headers, content=body)
        _reply(request, answer.status_code, answer.headers.get("content-type", ""), answer.content)


def _reply(request: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
    request.send_response(status)
    if content_type:
        request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


@contextmanager
def faulty_front(upstream: str, echo_secret: str = "") -> Iterator[FaultyFront]:
    front = FaultyFront(upstream, echo_secret)
    try:
        yield front
    finally:
        front.close()
