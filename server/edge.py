"""What every request meets before routing: a Host header, body limits, CORS preflight, the
request id, the access log and metrics, `nosniff` on every answer, and a last-resort 500.

Pure ASGI (a few small objects per request) so the cost on the hot paths stays near zero.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import time
import traceback

from turris_api.server import logs, metrics
from turris_api.server.addresses import client_address
from turris_api.server.settings import ServiceSettings

log = logging.getLogger("server")

# Form endpoints that authenticate a client (an argon2 check): small bodies, OAuth-shaped errors.
OAUTH_PATHS = frozenset({"/oauth/token", "/oauth/introspect", "/oauth/revoke"})
PREFLIGHT_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
PREFLIGHT_HEADERS = b"Authorization, Content-Type"
PREFLIGHT_MAX_AGE = b"600"
NOSNIFF = (b"x-content-type-options", b"nosniff")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # an id we echo and log: nothing that could forge a line
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLIENT_ADDRESS = "client_address"  # in the request's state: the caller's Address, or None (see client_address)
CREDENTIAL_ROUTES = ("/v1/api-clients", "/v1/restricted-tokens", "/v1/members")  # management: what changes credentials


# Request ids need to be unique, not secret: a random prefix per process and a counter cost less
# than reading the system's random source for every request.
_ids = {"prefix": "", "counter": itertools.count()}


def _new_id_prefix() -> None:
    _ids["prefix"], _ids["counter"] = secrets.token_hex(4), itertools.count()


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def _new_request_id() -> str:
    return f"{_ids['prefix']}{next(_ids['counter']) & 0xFFFFFFFF:08x}"


class BodyTooLarge(Exception):
    pass


def _json(status: int, body: dict, extra: list[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
    payload = json.dumps(body).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("ascii")),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    return {"type": "http.response.start", "status": status, "headers": headers}, {
        "type": "http.response.body",
        "body": payload,
    }


def _error(path: str, status: int, code: str, message: str) -> tuple[dict, dict]:
    """OAuth-shaped on the OAuth endpoints (RFC 6749 5.2), the service's shape elsewhere."""
    if path in OAUTH_PATHS:
        return _json(status, {"error": code, "error_description": message})
    return _json(status, {"error": code, "message": message})


class Edge:
    def __init__(self, app, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        path = scope.get("path", "")
        method = scope["method"]
        given_id = _header(scope, b"x-request-id")
        request_id = given_id if given_id is not None and REQUEST_ID.fullmatch(given_id) else _new_request_id()
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded = [value.decode("latin-1") for key, value in scope["headers"] if key == b"x-forwarded-for"]
        # Worked out once, here, for the log and for every rule that judges the caller's address.
        address = client_address(peer, forwarded, self.settings.trusted_proxies)
        scope.setdefault("state", {})[CLIENT_ADDRESS] = address
        if self.settings.trusted_proxies and address is not None:  # the log names the client, not our proxy
            peer = str(address)
        entry = logs.RequestLog(request_id, peer, method, path)
        context = logs.current.set(entry)
        stamp = [NOSNIFF, (b"x-request-id", request_id.encode("ascii"))]
        status = 500
        started = False
        too_large = False

        async def answer(messages: tuple[dict, dict]) -> None:
            nonlocal status, started
            start, body = messages
            start["headers"] = [*start["headers"], *stamp]
            status, started = start["status"], True
            await send(start)
            await send(body)

        async def stamped_send(message):
            nonlocal status, started
            if message["type"] == "http.response.start":
                if too_large:  # the app caught our refusal (e.g. as a malformed body): ours stands
                    if not started:
                        await answer(_too_large(path, limit))
                    return
                message["headers"] = [*message.get("headers", ()), *stamp]
                status, started = message["status"], True
            elif too_large:
                return
            await send(message)

        try:
            if scope.get("http_version") == "1.1" and _header(scope, b"host") is None:
                await answer(_error(path, 400, "invalid_request", "An HTTP/1.1 request needs a Host header."))
                return
            if method == "OPTIONS" and await self._preflight(scope, answer):
                return
            limit = self.settings.token_body_limit if path in OAUTH_PATHS else self.settings.body_limit
            declared = _header(scope, b"content-length")
            if declared is not None:
                if not (declared.isascii() and declared.isdigit()):
                    await answer(_error(path, 400, "invalid_request", "Content-Length is not a number."))
                    return
                if int(declared) > limit:
                    await answer(_too_large(path, limit))
                    return
            seen = 0

            async def limited_receive():
                nonlocal seen, too_large
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:  # a chunked body declares no length: counted as it arrives
                        too_large = True
                        raise BodyTooLarge
                return message

            try:
                await self.app(scope, limited_receive, stamped_send)
            except BodyTooLarge:
                if not started:
                    await answer(_too_large(path, limit))
            except Exception as err:
                # Never a stack trace in a response, and no exception message in the log either:
                # driver errors can quote the parameters they were given.
                frames = "".join(traceback.format_tb(err.__traceback__))
                log.error("unhandled %s on %s %s\n%s", type(err).__name__, method, path, frames)
                if not started:
                    await answer(
                        _error(path, 500, "server_error" if path in OAUTH_PATHS else "internal_error",
                               "The service hit an unexpected error; it has been logged. Try again later."),
                    )
            if too_large and not started:
                await answer(_too_large(path, limit))
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if method in CHANGES and status < 400 and template.startswith(CREDENTIAL_ROUTES):
                logs.security_event("credential_changed", status=status, route=template)
            logs.current.reset(context)
            metrics.observe(template, method if method in METHODS else "other", status,
                            time.perf_counter() - started_at)
            logs.access(entry, status, started_at)

    async def _preflight(self, scope, answer) -> bool:
        """Answer a CORS preflight for any origin: the actual request is where the origin check bites."""
        origin = _header(scope, b"origin")
        if origin is None or _header(scope, b"access-control-request-method") is None:
            return False
        await answer((
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", PREFLIGHT_METHODS),
                    (b"access-control-allow-headers", PREFLIGHT_HEADERS),
                    (b"access-control-max-age", PREFLIGHT_MAX_AGE),
                    (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
                ],
            },
            {"type": "http.response.body", "body": b""},
        ))
        return True


def _too_large(path: str, limit: int) -> tuple[dict, dict]:
    code = "invalid_request" if path in OAUTH_PATHS else "payload_too_large"
    return _error(path, 413, code, f"The request body is larger than {limit} bytes.")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None

