"""The hot routes (token endpoint, protected API, forward-auth), answered without FastAPI's routing.

Each one is an `async (request, service) -> Response` on Starlette's public Request/Response:
FastAPI's route matching, dependency solving and exception middleware cost more per request than
these endpoints' own work. FastAPI still documents them (`documented_routes`, for /openapi.json)
and answers everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from turris_api.server.resources import BearerRefused
from turris_api.server.responses import json_response, store_error_response
from turris_api.server.service import Service
from turris_api.store.errors import StoreError

Endpoint = Callable[[Request, Service], Awaitable[Response]]


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
    """ASGI middleware inside the edge: a hot path is answered here, anything else goes on to FastAPI."""

    def __init__(self, app, routes: Sequence[HotRoute], service: Service) -> None:
        self.app = app
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
        route = self.match(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive)
        if scope["method"] not in route.methods:
            response = json_response(405, {"error": "method_not_allowed",
                                           "message": f"{scope['method']} is not allowed on {scope['path']}."},
                                     {"Allow": ", ".join(sorted(route.methods))})
        else:
            try:
                response = await route.endpoint(request, self.service)
            except BearerRefused as refused:
                response = json_response(refused.status, refused.body(), refused.headers())
            except StoreError as err:
                response = store_error_response(err, request)
        await response(scope, receive, send)


def documented_routes(routes: Sequence[HotRoute]) -> list[APIRoute]:
    """The hot routes as FastAPI would declare them, for the OpenAPI document only (never called)."""
    def documented() -> None:  # pragma: no cover - documentation only
        raise NotImplementedError

    return [APIRoute(route.path, documented, methods=[method], name=route.endpoint.__name__, **route.doc)
            for route in routes if route.documented for method in sorted(route.methods)]
