"""OAuth 2.0 and discovery: the token endpoint, introspection, revocation, keys and metadata."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from turris_api.server import schemas
from turris_api.server.deps import ServiceDep
from turris_api.server.hot import Answer, HotRoute, encoded_json_answer, header_pairs
from turris_api.server.oauth import TokenReply
from turris_api.server.service import Service

JSON = "application/json"
DISCOVERY_CACHE = {"Cache-Control": "public, max-age=300"}

router = APIRouter(tags=["OAuth 2.0"])


def _errors(*statuses: int) -> dict[int | str, dict]:
    return {status: {"model": schemas.OAuthErrorOut} for status in statuses}


def _form(properties: dict, required: list[str]) -> dict:
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}},
        "security": [{"clientSecretBasic": []}, {}],
    }


CLIENT_POST = {
    "client_id": {"type": "string", "description": "For client_secret_post."},
    "client_secret": {"type": "string", "description": "For client_secret_post."},
}
TOKEN_FORM = _form(
    {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        **CLIENT_POST,
        "scope": {"type": "string", "description": "This service defines no scopes."},
    },
    ["grant_type"],
)
TOKEN_PARAM_FORM = _form(
    {
        "token": {"type": "string", "description": "An API Client JWT or a Restricted Access Token."},
        "token_type_hint": {"type": "string", "description": "Accepted and ignored."},
        **CLIENT_POST,
    },
    ["token"],
)


def _send(reply: TokenReply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=JSON, headers=reply.headers)


def _json(body: dict, headers: dict[str, str]) -> Response:
    return Response(json.dumps(body).encode("utf-8"), media_type=JSON, headers=headers)


async def token(request: Request, service: Service) -> Answer:
    body = await request.body()
    reply = await service.issuer.answer(request.headers, body, service.address(request),
                                        lookup=service.lookup, hashing=service.hashing)
    return encoded_json_answer(reply.status, reply.body, header_pairs(reply.headers))


HOT = [
    HotRoute(
        "/oauth/token", ["POST"], token,
        summary="Exchange a Client ID and Client Secret for a 60-minute JWT (client credentials)",
        response_model=schemas.TokenOut,
        responses=_errors(400, 401, 403, 413, 429, 503),
        openapi_extra=TOKEN_FORM,
        tags=["OAuth 2.0"],
    ),
]


@router.post(
    "/oauth/introspect",
    summary="RFC 7662: is this token active, and whose (tokens of the caller's organization only)",
    responses=_errors(400, 401, 413, 429, 503),
    openapi_extra=TOKEN_PARAM_FORM,
)
async def introspect(request: Request, service: ServiceDep) -> Response:
    body = await request.body()
    return _send(await service.hashing(service.token_status.introspect, request.headers, body,
                                       service.address(request)))


@router.post(
    "/oauth/revoke",
    summary="RFC 7009: revoke a JWT this API Client was issued (200 for unknown tokens too)",
    responses=_errors(400, 401, 413, 429, 503),
    openapi_extra=TOKEN_PARAM_FORM,
)
async def revoke(request: Request, service: ServiceDep) -> Response:
    body = await request.body()
    return _send(await service.hashing(service.token_status.revoke, request.headers, body, service.address(request)))


@router.get("/.well-known/jwks.json", summary="Public keys that verify the service's JWTs")
def jwks(service: ServiceDep) -> Response:
    return _json(service.keys.jwks(), DISCOVERY_CACHE)


def _metadata(service: ServiceDep) -> dict:
    issuer = service.settings.issuer
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "response_types_supported": [],
        "scopes_supported": [],
        "service_documentation": f"{issuer}/docs",
        "access_token_signing_alg_values_supported": [service.settings.algorithm],
    }


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 authorization server metadata")
def metadata(service: ServiceDep) -> Response:
    return _json(_metadata(service), DISCOVERY_CACHE)


@router.get("/.well-known/openid-configuration", summary="The same metadata where OpenID-minded gateways look")
def openid_configuration(service: ServiceDep) -> Response:
    # No OpenID Connect login here: the fields a gateway needs (issuer, jwks_uri) with OIDC's required shape.
    body = {
        **_metadata(service),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [service.settings.algorithm],
    }
    return _json(body, DISCOVERY_CACHE)
