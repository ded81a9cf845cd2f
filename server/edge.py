"""What every request meets before routing: body limits, CORS preflight, and a last-resort 500.

Pure ASGI (no per-request objects) so the cost on the hot paths stays near zero.
"""

from __future__ import annotations

import json
import logging
import traceback

from turris_api.server.settings import ServiceSettings

log = logging.getLogger("server")

# Form endpoints that authenticate a client (an argon2 check): small bodies, OAuth-shaped errors.
OAUTH_PATHS = frozenset({"/oauth/token", "/oauth/introspect", "/oauth/revoke"})
PREFLIGHT_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
PREFLIGHT_HEADERS = b"Authorization, Content-Type"
PREFLIGHT_MAX_AGE = b"600"


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
        path = scope.get("path", "")
        if scope["method"] == "OPTIONS" and await self._preflight(scope, send):
            return
        limit = self.settings.token_body_limit if path in OAUTH_PATHS else self.settings.body_limit
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                await _send(send, _error(path, 400, "invalid_request", "Content-Length is not a number."))
                return
            if int(declared) > limit:
                await _send(send, _too_large(path, limit))
                return

        started = False
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send(send, _too_large(path, limit))
        except Exception as err:
            # Never a stack trace in a response, and no exception message in the log either:
            # driver errors can quote the parameters they were given.
            frames = "".join(traceback.format_tb(err.__traceback__))
            log.error("unhandled %s on %s %s\n%s", type(err).__name__, scope["method"], path, frames)
            if not started:
                await _send(
                    send,
                    _error(path, 500, "server_error" if path in OAUTH_PATHS else "internal_error",
                           "The service hit an unexpected error; it has been logged. Try again later."),
                )

    async def _preflight(self, scope, send) -> bool:
        """Answer a CORS preflight for any origin: the actual request is where the origin check bites."""
        origin = _header(scope, b"origin")
        if origin is None or _header(scope, b"access-control-request-method") is None:
            return False
        await send(
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
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return True


def _too_large(path: str, limit: int) -> tuple[dict, dict]:
    code = "invalid_request" if path in OAUTH_PATHS else "payload_too_large"
    return _error(path, 413, code, f"The request body is larger than {limit} bytes.")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _send(send, messages: tuple[dict, dict]) -> None:
    start, body = messages
    await send(start)
    await send(body)
