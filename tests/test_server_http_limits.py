"""HTTP limits of a real `turris-api serve`, met with raw sockets: oversized heads, slow clients,
missing Host, slash redirects, Allow, nosniff, chunked bodies over the limit.

Bounded in count and time: a handful of connections, short timeouts set through the environment.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.service import ServiceProcess

READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("limits")
    env = {"TURRIS_READ_TIMEOUT": str(READ_TIMEOUT), "XDG_DATA_HOME": str(folder)}
    process = ServiceProcess(f"sqlite:///{folder / 'store.db'}", "--migrate", env=env)
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def connect(service: ServiceProcess, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=timeout)
    return sock


def exchange(service: ServiceProcess, request: bytes, timeout: float = 5.0) -> bytes:
    """Send `request`, read until the server closes (or `timeout`); what came back."""
    with connect(service, timeout) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse before reading everything
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def headers_of(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head)}


def get(path: str, *extra: str, method: str = "GET", host: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(["Host: api.turris.test"] if host else []), *extra, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_a_head_over_the_limit_is_431(service):
    response = exchange(service, get("/health/live", "X-Big: " + "a" * 20_000))
    assert status_of(response) == 431


def test_a_huge_header_is_refused_before_it_is_all_read(service):
    chunk = b"a" * 65536
    started = time.monotonic()
    with socket.socket() as sock:
        # A small send buffer, so `sent` counts what the server took in, not what this side's
        # kernel queued: Linux lets a send buffer grow to 4 MiB, this test's very bound.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.settimeout(5.0)
        sock.connect(("127.0.0.1", service.port))
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            for _ in range(800):  # 50 MB, if the server let it
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_all(sock)
    assert sent < 4 * 1024 * 1024, "the server kept reading a header megabytes long"
    assert response == b"" or status_of(response) == 431
    assert time.monotonic() - started < 10


def test_slow_clients_are_cut_off_after_the_read_timeout(service):
    """Slowloris: connections that send half a head and then trickle are closed, with a 408."""
    socks = [connect(service, timeout=READ_TIMEOUT * 6) for _ in range(12)]
    try:
        for sock in socks:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        time.sleep(READ_TIMEOUT / 2)
        for sock in socks:
            sock.sendall(b"X-Slow: 1\r\n")  # still arriving, never complete
        started = time.monotonic()
        answers = [read_all(sock) for sock in socks]
        assert time.monotonic() - started < READ_TIMEOUT * 4
        assert all(status_of(answer) == 408 for answer in answers), answers
    finally:
        for sock in socks:
            sock.close()


def test_a_connection_that_says_nothing_is_closed(service):
    with connect(service, timeout=READ_TIMEOUT * 6) as sock:
        started = time.monotonic()
        answer = read_all(sock)
    assert time.monotonic() - started < READ_TIMEOUT * 4
    assert answer == b"" or status_of(answer) == 408


def test_http11_without_host_is_400(service):
    assert status_of(exchange(service, get("/health/live", host=False))) == 400


def test_a_trailing_slash_is_a_404_never_a_redirect_built_from_host(service):
    request = get("/oauth/token/", "Content-Length: 0", method="POST").replace(b"api.turris.test", b"evil.example")
    response = exchange(service, request)
    assert status_of(response) == 404
    assert "location" not in headers_of(response)
    assert b"evil.example" not in response


def test_405_names_the_allowed_methods(service):
    response = exchange(service, get("/oauth/token", method="DELETE"))
    assert status_of(response) == 405
    assert headers_of(response)["allow"] == "POST"


@pytest.mark.parametrize("path", ["/health/live", "/nowhere", "/oauth/token"])
def test_every_answer_says_nosniff_and_carries_a_request_id(service, path):
    response = exchange(service, get(path, "X-Request-Id: trace-42"))
    headers = headers_of(response)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"] == "trace-42"


def test_a_forged_request_id_is_replaced(service):
    headers = headers_of(exchange(service, get("/health/live", "X-Request-Id: a b\" {}")))
    assert headers["x-request-id"] != 'a b" {}' and len(headers["x-request-id"]) == 16


@pytest.mark.parametrize("path,content_type", [("/oauth/token", "application/x-www-form-urlencoded"),
                                               ("/v1/api-clients", "application/json")])
def test_a_chunked_body_over_the_limit_is_413(service, path, content_type):
    chunk = b"a" * 32768
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    request = get(path, f"Content-Type: {content_type}", "Transfer-Encoding: chunked", method="POST") + body
    assert status_of(exchange(service, request)) == 413


def test_a_body_that_never_finishes_arriving_is_cut_off_too(service):
    with connect(service, timeout=READ_TIMEOUT * 6) as sock:
        sock.sendall(get("/oauth/token", "Content-Type: application/x-www-form-urlencoded",
                         "Content-Length: 100", method="POST") + b"grant_type=")
        started = time.monotonic()
        answer = read_all(sock)
    assert time.monotonic() - started < READ_TIMEOUT * 4
    assert status_of(answer) == 408


def test_pipelined_requests_get_whole_answers_in_order(service):
    """Responses are written once per turn of the event loop: several in flight must still each
    arrive whole, in the order asked, and a HEAD's must carry no body."""
    keep = ["GET /health/live HTTP/1.1", "Host: api.turris.test"]
    requests = [*keep, "", "GET /nowhere HTTP/1.1", "Host: api.turris.test", "", "HEAD /health/live HTTP/1.1",
                "Host: api.turris.test", "", *keep, "Connection: close", "", ""]
    answer = exchange(service, "\r\n".join(requests).encode("latin-1"))
    statuses, rest = [], answer
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        statuses.append(int(head.split(b" ", 2)[1]))
        length = int(headers_of(head + b"\r\n\r\n").get("content-length", "0"))
        if len(statuses) != 3:  # the HEAD's length names a body it does not send
            rest = rest[length:]
    assert statuses == [200, 404, 405, 200]
