"""The protected API: the service's own endpoints guarded by API Client JWTs and Restricted Access Tokens."""

from __future__ import annotations

from starlette.requests import Request

from turris_api.server import schemas
from turris_api.server.hot import Answer, HotRoute, header_pairs, json_answer
from turris_api.server.resources import Principal
from turris_api.server.responses import error_models
from turris_api.server.service import Service

RESOURCE_DOC = {"responses": error_models(401, 403, 503), "openapi_extra": {"security": [{"accessToken": []}]},
                "tags": ["Turris API"]}


VARY_ORIGIN = (b"vary", b"Origin")


def _answer(principal: Principal, body: dict) -> Answer:
    return json_answer(200, body, [VARY_ORIGIN, *header_pairs(principal.cors)])


async def whoami(request: Request, service: Service) -> Answer:
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


async def organization(request: Request, service: Service) -> Answer:
    p = await service.principal(request)
    return _answer(p, {"id": p.organization_id, "name": p.organization_name, "api_access": True})


HOT = [
    HotRoute("/v1/whoami", ["GET"], whoami, response_model=schemas.WhoAmIOut,
             summary="Who the presented credential is (API Client JWT or Restricted Access Token)", **RESOURCE_DOC),
    HotRoute("/v1/organization", ["GET"], organization, response_model=schemas.OrganizationOut,
             summary="The caller's organization (API Client JWTs only)", **RESOURCE_DOC),
]
