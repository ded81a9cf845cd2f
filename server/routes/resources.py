"""The protected API: the service's own endpoints guarded by API Client JWTs and Restricted Access Tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from turris_api.server import schemas
from turris_api.server.deps import ServiceDep
from turris_api.server.resources import Principal
from turris_api.server.responses import error_models, json_response

RESOURCE_ERRORS = error_models(401, 403, 503)
RESOURCE_SECURITY = {"security": [{"accessToken": []}]}

router = APIRouter(tags=["Turris API"])


def _answer(principal: Principal, body: dict) -> Response:
    return json_response(200, body, {"Vary": "Origin", **principal.cors})


@router.get(
    "/v1/whoami",
    summary="Who the presented credential is (API Client JWT or Restricted Access Token)",
    response_model=schemas.WhoAmIOut,
    responses=RESOURCE_ERRORS,
    openapi_extra=RESOURCE_SECURITY,
)
async def whoami(request: Request, service: ServiceDep) -> Response:
    p = await service.principal(request)
    return _answer(
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
async def organization(request: Request, service: ServiceDep) -> Response:
    p = await service.principal(request)
    return _answer(p, {"id": p.organization_id, "name": p.organization_name, "api_access": True})
