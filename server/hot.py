"""The hot routes (token endpoint, protected API, forward-auth), answered beside FastAPI, not by it.

Each one is an `async (request, service) -> Response` (or another ASGI answer) on Starlette's
public Request/Response, behind the same edge (server/edge.py) as every other request: FastAPI's
middleware stack, route matching and dependency solving cost more per request than these
endpoints' own work. FastAPI still documents them (`documented_routes`, for /openapi.json) and
answers everything else.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from turris_api.server.resources import BearerRefused
from turris_api.server.responses import json_response, not_allowed, store_error_response
from turris_api.server.service import Service
from turris_api.store.errors import StoreError

Endpoint = Callable[[Request, Service], Awaitable[Response | ASGIApp]]
JSON_TYPE = (b"content-type", b"application/json")


class Answer:
    """A hot route's answer as two ASGI messages, its headers as byte pairs: Starlette's Response
    encodes every header name again on every request, which costs more than building these answers."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def json_answer(status: int, body: object, headers: list[tuple[bytes, bytes]]) -> Answer:
    return encoded_json_answer(status, json.dumps(body).encode("utf-8"), headers)


def encoded_json_answer(status: int, payload: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    return Answer(status, [*headers, (b"content-length", str(len(payload)).encode("ascii")), JSON_TYPE], payload)


def header_pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class HotRoute:
    """One path (or every path under `path + "/"` with `subpaths`), its methods, its handler, its documentation."""

    def __init__(self, path: str, methods: Sequence[str], endpoint: Endpoint, *, subpaths: bool = False,
                 documented: bool = True, **doc: Any) -> None:
        self.path = path  # also the route template the access log and metrics name
        self.methods = frozenset(methods)
        self.endpoint = endpoint
        self.subpaths = subpaths
        self.documented = documented
        self.doc = doc  # APIRoute keyword arguments: summary, response_model, responses, openapi_extra, ...


class HotRoutes:
    """The ASGI app that answers the hot paths (`match` says which paths those are)."""

    def __init__(self, routes: Sequence[HotRoute], service: Service) -> None:
        self.service = service
        self.exact = {route.path: route for route in routes}
        self.prefixes = tuple((route.path + "/", route) for route in routes if route.subpaths)

    def match(self, path: str) -> HotRoute | None:
        route = self.exact.get(path)
        if route is None:
            for prefix, candidate in self.prefixes:
                if path.startswith(prefix):
                    return candidate
        return route

    async def __call__(self, scope, receive, send) -> None:
        route = self.match(scope["path"])
        scope["route"] = route
        request = Request(scope, receive)
        if scope["method"] not in route.methods:
            response = not_allowed(scope["method"], scope["path"], ", ".join(sorted(route.methods)))
        else:
            try:
                response = await route.endpoint(request, self.service)
            except BearerRefused as refused:
                response = json_response(refused.status, refused.body(), refused.headers())
            except StoreError as err:
                response = store_error_response(err, request)
        await response(scope, receive, send)


class ServiceApp(FastAPI):
    """FastAPI, with the hot paths answered by the edge and HotRoutes before FastAPI's own stack
    (whose error, telemetry and body-limit layers, and the edge again as its middleware, serve the rest)."""

    _hot: HotRoutes | None = None
    _hot_edge = None

    def serve_hot(self, routes: HotRoutes, edge) -> None:
        self._hot = routes
        self._hot_edge = edge

    async def __call__(self, scope, receive, send) -> None:
        if self._hot is not None and scope["type"] == "http" and self._hot.match(scope["path"]) is not None:
            await self._hot_edge(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def documented_routes(routes: Sequence[HotRoute]) -> list[APIRoute]:
    """The hot routes as FastAPI would declare them, for the OpenAPI document only (never called)."""
    def documented() -> None:  # pragma: no cover - documentation only
        raise NotImplementedError

    return [APIRoute(route.path, documented, methods=[method], name=route.endpoint.__name__, **route.doc)
            for route in routes if route.documented for method in sorted(route.methods)]
