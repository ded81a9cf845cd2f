"""The FastAPI application: routes -> who is calling, may they -> the same store code as the app."""


import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from turris_api.server import schemas
from turris_api.server.edge import Edge
from turris_api.server.keys import ensure_signing_key
from turris_api.server.resources import BearerRefused, Principal
from turris_api.server.routes import forward, oauth
from turris_api.server.service import Service
from turris_api.server.settings import ServiceSettings
from turris_api.store import shapes
from turris_api.store.database import Database
from turris_api.store.errors import Invalid, StoreError, Unavailable
from turris_api.store.local import LocalStore

log = logging.getLogger("server")

JSON = "application/json"
Ref = Annotated[str, Path(max_length=200, description="Internal id (digits) or, for API Clients, the Client ID.")]


def _errors(*statuses: int, model: type = schemas.ErrorOut) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model} for status in statuses}


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode("utf-8"), status_code=status, media_type=JSON, headers=headers)


# --- the protected API ---------------------------------------------------------

RESOURCE_ERRORS = _errors(401, 403, 503)
RESOURCE_SECURITY = {"security": [{"accessToken": []}]}


def _resource_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["Turris API"])

    def answer(principal: Principal, body: dict) -> Response:
        return _json_response(200, body, {"Vary": "Origin", **principal.cors})

    @router.get(
        "/v1/whoami",
        summary="Who the presented credential is (API Client JWT or Restricted Access Token)",
        response_model=schemas.WhoAmIOut,
        responses=RESOURCE_ERRORS,
        openapi_extra=RESOURCE_SECURITY,
    )
    async def whoami(request: Request) -> Response:
        p = await service.principal(request)
        return answer(
            p,
            {
                "type": p.type,
                "name": p.name,
                "client_id": p.client_id,
                "organization": {"id": p.organization_id, "name": p.organization_name},
            },
        )

    @router.get(
        "/v1/organization",
        summary="The caller's organization (API Client JWTs only)",
        response_model=schemas.OrganizationOut,
        responses=RESOURCE_ERRORS,
        openapi_extra=RESOURCE_SECURITY,
    )
    async def organization(request: Request) -> Response:
        p = await service.principal(request)
        return answer(p, {"id": p.organization_id, "name": p.organization_name, "api_access": True})

    return router


# --- management API (what RemoteStore talks to) --------------------------------

member_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="memberToken",
    description="A member access token from `turris-api member token EMAIL`.",
)
MANAGEMENT_ERRORS = _errors(401, 403, 404, 409, 413, 422, 503)


def _management_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["Management"], responses=MANAGEMENT_ERRORS)

    def acting_store(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(member_bearer)]) -> LocalStore:
        """The store acting as the member whose access token was presented."""
        token = credentials.credentials if credentials else ""
        if not token:
            raise BearerRefused(401, None, "The management API needs a member access token (Authorization: Bearer).")
        if len(token) > service.settings.bearer_limit:
            raise BearerRefused(401, "invalid_token", "The member access token is unknown or was revoked.")
        member = service.verifier.verify_member_token(token)
        if member is None:
            raise BearerRefused(401, "invalid_token", "The member access token is unknown or was revoked.")
        return LocalStore(service.db, member.id)

    Store = Annotated[LocalStore, Depends(acting_store)]

    def authenticated_ref(_store: Store, ref: Ref) -> str:  # the member token is checked before the ref
        return ref

    ItemRef = Annotated[str, Depends(authenticated_ref)]

    def created(body: Any) -> Response:
        return _json_response(201, body, {"Cache-Control": "no-store"})

    @router.get("/me", response_model=schemas.MeOut, summary="The member, role, permission and plan")
    def me(store: Store) -> schemas.MeOut:
        return schemas.MeOut.of(store.me())

    @router.get("/api-clients", response_model=list[schemas.ApiClientOut], summary="API Clients, by name")
    def list_clients(store: Store) -> list[schemas.ApiClientOut]:
        return [schemas.ApiClientOut.model_validate(c) for c in store.list_clients()]

    @router.post(
        "/api-clients",
        status_code=201,
        response_model=schemas.CreatedClientOut,
        summary="Create an API Client; the Client Secret is in this answer and never again",
    )
    def create_client(draft: schemas.ClientDraftIn, store: Store) -> Response:
        result = store.create_client(draft.draft())
        out = schemas.CreatedClientOut.model_validate(shapes.created_client_json(result))
        return created(out.model_dump(mode="json"))

    @router.get("/api-clients/{ref}", response_model=schemas.ApiClientOut, summary="One API Client")
    def get_client(ref: ItemRef, store: Store) -> schemas.ApiClientOut:
        return schemas.ApiClientOut.model_validate(store.get_client(ref))

    @router.put(
        "/api-clients/{ref}",
        response_model=schemas.ApiClientOut,
        summary="Change name, description, Allowed Origins; 409 if the version is stale",
    )
    def update_client(ref: ItemRef, change: schemas.ClientUpdateIn, store: Store) -> schemas.ApiClientOut:
        return schemas.ApiClientOut.model_validate(store.update_client(ref, change.draft(), change.version))

    @router.delete("/api-clients/{ref}", status_code=204, response_class=Response, summary="Delete an API Client")
    def delete_client(ref: ItemRef, store: Store) -> Response:
        store.delete_client(ref)
        return Response(status_code=204)

    @router.get("/restricted-tokens", response_model=list[schemas.RestrictedTokenOut], summary="Restricted Access Tokens")
    def list_tokens(store: Store) -> list[schemas.RestrictedTokenOut]:
        return [schemas.RestrictedTokenOut.model_validate(t) for t in store.list_tokens()]

    @router.post(
        "/restricted-tokens",
        status_code=201,
        response_model=schemas.CreatedTokenOut,
        summary="Create a Restricted Access Token; the token is in this answer and never again",
    )
    def create_token(draft: schemas.TokenDraftIn, store: Store) -> Response:
        result = store.create_token(draft.draft())
        out = schemas.CreatedTokenOut.model_validate(shapes.created_token_json(result))
        return created(out.model_dump(mode="json"))

    @router.get("/restricted-tokens/{ref}", response_model=schemas.RestrictedTokenOut, summary="One token")
    def get_token(ref: ItemRef, store: Store) -> schemas.RestrictedTokenOut:
        return schemas.RestrictedTokenOut.model_validate(store.get_token(ref))

    @router.put(
        "/restricted-tokens/{ref}",
        response_model=schemas.RestrictedTokenOut,
        summary="Change name and Allowed IPs; 409 if the version is stale",
    )
    def update_token(ref: ItemRef, change: schemas.TokenUpdateIn, store: Store) -> schemas.RestrictedTokenOut:
        return schemas.RestrictedTokenOut.model_validate(store.update_token(ref, change.draft(), change.version))

    @router.delete("/restricted-tokens/{ref}", status_code=204, response_class=Response, summary="Delete a token")
    def delete_token(ref: ItemRef, store: Store) -> Response:
        store.delete_token(ref)
        return Response(status_code=204)

    @router.get("/audit-events", response_model=list[schemas.AuditEventOut], summary="Recent changes, newest first")
    def audit_events(store: Store, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[schemas.AuditEventOut]:
        return [schemas.AuditEventOut.model_validate(e) for e in store.audit_events(limit)]

    @router.get("/members", response_model=list[schemas.MemberOut], summary="Members of the organization")
    def list_members(store: Store) -> list[schemas.MemberOut]:
        return [schemas.MemberOut.model_validate(m) for m in store.list_members()]

    @router.post("/members", status_code=201, response_model=schemas.MemberOut, summary="Add a member (admins)")
    def add_member(draft: schemas.MemberDraftIn, store: Store) -> Response:
        member = store.add_member(draft.email, draft.role, draft.can_manage_credentials, draft.display_name)
        return created(schemas.MemberOut.model_validate(member).model_dump(mode="json"))

    return router


# --- errors --------------------------------------------------------------------


def store_error_response(err: StoreError) -> Response:
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    headers = {}
    if isinstance(err, Invalid):
        body["field"] = err.field
        if err.value is not None:
            body["value"] = err.value[:200]
    if isinstance(err, Unavailable):
        headers["Retry-After"] = str(err.retry_after)
    return _json_response(err.http_status, body, headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, err: StoreError) -> Response:
        if err.http_status >= 500 and not isinstance(err, Unavailable):
            log.error("store error %s on %s %s", type(err).__name__, request.method, request.url.path)
        return store_error_response(err)

    @app.exception_handler(BearerRefused)
    async def on_bearer_refused(request: Request, err: BearerRefused) -> Response:
        return _json_response(err.status, err.body(), err.headers())

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, err: RequestValidationError) -> Response:
        problems = err.errors()
        first = problems[0] if problems else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
        field = ".".join(location) or "body"
        detail = first.get("msg", "is not valid")
        message = f"{field}: {detail}" if location else f"The request body is not valid: {detail}"
        return _json_response(422, {"error": Invalid.code, "message": message, "field": field})

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 400:  # FastAPI could not parse the body: the same answer as any invalid input
            return _json_response(
                422, {"error": Invalid.code, "message": "The request body is not valid JSON.", "field": "body"}
            )
        codes = {404: "not_found", 405: "method_not_allowed"}
        messages = {
            404: f"There is no endpoint at {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }
        code = codes.get(err.status_code, "http_error")
        message = messages.get(err.status_code, str(err.detail))
        headers = dict(err.headers or {})
        if err.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return _json_response(err.status_code, {"error": code, "message": message}, headers)


def _allowed_methods(request: Request) -> str:
    """Every method the path takes (RFC 9110 15.5.6); Starlette's own Allow names only the first route."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, BaseRoute) and getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods.update(route.methods)
    return ", ".join(sorted(methods))


def _openapi(app: FastAPI):
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["clientSecretBasic"] = {"type": "http", "scheme": "basic", "description": "Client ID and Client Secret."}
        schemes["accessToken"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT or Restricted Access Token",
            "description": "An API Client JWT from /oauth/token, or a Restricted Access Token.",
        }
        app.openapi_schema = schema
        return schema

    return build


def create_app(db: Database, settings: ServiceSettings | None = None) -> FastAPI:
    """The service on one store database; the first start creates a signing key."""
    settings = settings or ServiceSettings()
    ensure_signing_key(db, settings.algorithm)
    service = Service(db, settings)
    app = FastAPI(
        title="Turris credential service",
        version="1.0",
        description=(
            "OAuth 2.0 client credentials for Turris API Clients, the protected API they call, "
            "and the management API behind `turris-api --remote`."
        ),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.include_router(oauth.router)
    app.include_router(_resource_router(service))
    app.include_router(_management_router(service))
    app.include_router(forward.router)
    _install_error_handlers(app)
    app.openapi = _openapi(app)
    app.add_middleware(Edge, settings=settings)
    return app
