"""The FastAPI application: the routers in routes/, error handlers, the edge middleware."""

import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from turris_api.server.edge import Edge
from turris_api.server.hot import HotRoute, HotRoutes, ServiceApp, documented_routes
from turris_api.server.keys import KEY_FILE_NAME, ensure_signing_key, seal_stored_keys
from turris_api.server.resources import BearerRefused
from turris_api.server.responses import json_response, not_allowed, store_error_response
from turris_api.server.routes import forward, health, management, oauth, postman, resources
from turris_api.server.service import Service
from turris_api.server.settings import ServiceSettings
from turris_api.store import signing_keys, validation
from turris_api.store.database import Database, sqlite_file
from turris_api.store.errors import Invalid, StoreError

log = logging.getLogger("server")


# --- errors --------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, err: StoreError) -> Response:
        return store_error_response(err, request)

    @app.exception_handler(BearerRefused)
    async def on_bearer_refused(request: Request, err: BearerRefused) -> Response:
        return json_response(err.status, err.body(), err.headers())

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, err: RequestValidationError) -> Response:
        problems = err.errors()
        first = problems[0] if problems else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
        field = ".".join(location) or "body"
        detail = first.get("msg", "is not valid")
        message = f"{field}: {detail}" if location else f"The request body is not valid: {detail}"
        given = first.get("input")
        if first.get("loc", ())[:1] == ("query",) and isinstance(given, str):  # what was sent, made safe to show
            message += f" (got {validation.shown(given, 24)})"
        return json_response(422, {"error": Invalid.code, "message": message, "field": field})

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 400:  # FastAPI could not parse the body: the same answer as any invalid input
            return json_response(
                422, {"error": Invalid.code, "message": "The request body is not valid JSON.", "field": "body"}
            )
        if err.status_code == 405:
            return not_allowed(request.method, request.url.path, _allowed_methods(request))
        if err.status_code == 404:
            code, message = "not_found", f"There is no endpoint at {request.url.path}."
        else:
            code, message = "http_error", str(err.detail)
        return json_response(err.status_code, {"error": code, "message": message}, dict(err.headers or {}))


ALLOW_CANDIDATES = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method the path takes (RFC 9110 15.5.6), asked of the routes themselves through their
    public `matches`, since included routers no longer expose their routes as a flat list."""
    allowed = []
    for method in ALLOW_CANDIDATES:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


TITLE = "Turris credential service"
VERSION = "1.0"
DESCRIPTION = (
    "OAuth 2.0 client credentials for Turris API Clients, the protected API they call, "
    "and the management API behind `turris-api --remote`."
)
HOT_ROUTES = [*oauth.HOT, *resources.HOT, *forward.HOT]
ROUTERS = (oauth.router, management.router, health.router, postman.router)


def openapi_document(issuer: str) -> dict[str, Any]:
    """The service's OpenAPI document as served at `issuer`, built from the routes alone, so that the
    CLI can describe the service without a database (turris-api postman export)."""
    routes = [*documented_routes(HOT_ROUTES), *(route for router in ROUTERS for route in router.routes)]
    schema = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=routes,
                         servers=[{"url": issuer, "description": "The issuer: where clients reach this service."}])
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["clientSecretBasic"] = {"type": "http", "scheme": "basic", "description": "Client ID and Client Secret."}
    schemes["accessToken"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT or Restricted Access Token",
        "description": "An API Client JWT from /oauth/token, or a Restricted Access Token.",
    }
    return schema


def _openapi(app: FastAPI, issuer: str):
    def build() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = openapi_document(issuer)
        return app.openapi_schema

    return build


def create_app(db: Database, settings: ServiceSettings | None = None,
               extra_routes: Sequence[HotRoute] = ()) -> FastAPI:
    """The service on one store database; the first start creates a signing key. `extra_routes` are
    answered as the hot ones are (the benchmark's baselines)."""
    settings = settings or ServiceSettings()
    if settings.at_rest_key is None and (file := sqlite_file(db.url)) is not None:
        # A file store's own key file, as `serve` uses: never plaintext keys where there is a folder for one.
        settings = replace(settings, at_rest_key=signing_keys.at_rest_key_file(file.with_name(KEY_FILE_NAME)))
    service = Service(db, settings)
    sealed, unreadable = seal_stored_keys(db, service.material)
    if sealed:
        log.info("Encrypted %d stored signing key(s) at rest.", sealed)
    if unreadable:
        log.warning("Signing key(s) %s cannot be opened with the configured at-rest key or passphrase: "
                    "tokens cannot be issued and /health/ready answers 503 until that is fixed.",
                    ", ".join(unreadable))
    ensure_signing_key(db, settings.algorithm, service.material)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.verifier.uses.flush()  # the last second's credential uses, before the process ends

    app = ServiceApp(
        lifespan=lifespan,
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        redirect_slashes=False,  # a redirect would be built from the Host header; an unknown path is a 404
        # Our metrics are Prometheus (server/metrics.py); FastAPI's OpenTelemetry hooks would only look
        # for providers this service never configures, on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    for router in ROUTERS:
        app.include_router(router)
    _install_error_handlers(app)
    app.openapi = _openapi(app, settings.issuer)
    app.add_middleware(Edge, settings=settings)
    hot = HotRoutes([*HOT_ROUTES, *extra_routes], service)
    app.serve_hot(hot, Edge(hot, settings=settings))
    return app
