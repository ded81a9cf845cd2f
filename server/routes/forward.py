"""Forward-auth: the decision point for a reverse proxy (nginx auth_request, Traefik ForwardAuth,
Envoy ext_authz over HTTP) in front of a real API.

The proxy asks about the request it holds; every rule is applied to THAT request (its method,
path, Origin and client address), and an allowed one gets identity headers to pass upstream.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from turris_api.server.hot import Answer, HotRoute, header_pairs
from turris_api.server.resources import BearerRefused, Principal
from turris_api.server.service import Service
from turris_api.store.validation import shown

PREFIX = "/auth/forward"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PATH_MAX = 2048
NO_STORE = {"Cache-Control": "no-store"}


class NoOriginalRequest(Exception):
    """The proxy did not say which request it is asking about, or said it unintelligibly."""


def original_request(request: Request) -> tuple[str, str]:
    """(method, path) of the proxied request, from the headers of the proxy that asked.

    Envoy appends the original path to the check path; nginx sends X-Original-Method/-URI;
    Traefik X-Forwarded-Method/-Uri. The proxy must set these itself, overwriting a client's.
    """
    headers = request.headers
    suffix = request.scope["path"][len(PREFIX):]
    if suffix.startswith("/"):
        method = headers.get("x-forwarded-method") or request.method
        path = suffix  # Starlette already percent-decoded it
    elif "x-original-uri" in headers:
        method, path = headers.get("x-original-method", ""), _decoded(headers["x-original-uri"])
    elif "x-forwarded-uri" in headers:
        method, path = headers.get("x-forwarded-method", ""), _decoded(headers["x-forwarded-uri"])
    else:
        raise NoOriginalRequest("Say which request to judge: X-Original-Method and X-Original-URI (nginx), "
                                "X-Forwarded-Method and X-Forwarded-Uri (Traefik), or the path after /auth/forward.")
    method = method.strip().upper()
    if method not in METHODS:
        raise NoOriginalRequest(f"The original method {shown(method)} is missing or not one this gateway judges.")
    # Dot segments would let a pattern such as /v1/policies/* reach elsewhere once the upstream
    # resolves them; a proxy forwards normalized paths, so anything else is refused, not guessed.
    segments = path.split("/")
    if not path.startswith("/") or len(path) > PATH_MAX or any(s in (".", "..") for s in segments) \
            or not path.isprintable():
        raise NoOriginalRequest("The original path is not an absolute, normalized path.")
    return method, path


def _decoded(uri: str) -> str:
    return unquote(uri.split("?", 1)[0].split("#", 1)[0], errors="strict") if uri else ""


def identity_headers(principal: Principal) -> list[tuple[bytes, bytes]]:
    """What the upstream may rely on: the kind of credential, its ids, the organization; never a secret."""
    # Always all four: a proxy that copies them (Envoy, Traefik) then overwrites whatever a
    # client sent under these names, and an empty Client ID means a Restricted Access Token.
    return [
        (b"x-turris-credential-type", principal.type.encode("ascii")),
        (b"x-turris-credential-id", str(principal.id).encode("ascii")),
        (b"x-turris-client-id", (principal.client_id or "").encode("latin-1")),
        (b"x-turris-organization", str(principal.organization_id).encode("ascii")),
    ]


ALLOWED_HEADERS = [(b"cache-control", b"no-store"), (b"vary", b"Origin"), (b"content-length", b"0")]


def allowed(principal: Principal) -> Answer:
    """The empty 200 that lets the proxy pass the request on, with what the upstream may rely on."""
    return Answer(200, [*ALLOWED_HEADERS, *header_pairs(principal.cors), *identity_headers(principal)])


def _preflight(method: str, request: Request) -> dict[str, str] | None:
    origin = request.headers.get("origin")
    if method != "OPTIONS" or origin is None or "access-control-request-method" not in request.headers:
        return None
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(METHODS),
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


FORWARD_DOC = {
    "responses": {
        "200": {"description": "Allowed; identity in X-Turris-* headers for the upstream."},
        "400": {"description": "The proxy did not say which request it asks about."},
        "401": {"description": "No, or a bad, bearer credential (RFC 6750 challenge)."},
        "403": {"description": "Refused by a rule: `reason` is origin, ip or endpoint."},
    },
    "security": [{"accessToken": []}],
}


async def forward_auth(request: Request, service: Service) -> Response | Answer:
    try:
        method, path = original_request(request)
    except (NoOriginalRequest, UnicodeDecodeError) as err:
        if "authorization" not in request.headers:  # no token is 401 whatever else is missing
            raise BearerRefused(401, None, "This endpoint needs an Authorization: Bearer <token> header.") from None
        message = str(err) if isinstance(err, NoOriginalRequest) else "The original path is not valid UTF-8."
        body = json.dumps({"error": "invalid_request", "message": message}).encode("utf-8")
        return Response(body, status_code=400, media_type="application/json", headers=NO_STORE)
    cors = _preflight(method, request)
    if cors is not None:  # a browser's preflight carries no token, as on the service's own endpoints
        return Response(status_code=200, headers={**NO_STORE, **cors})
    return allowed(await service.principal(request, method, path))


# Any method, so any proxy configuration works; Envoy appends the original path (not documented).
HOT = [HotRoute(PREFIX, METHODS, forward_auth, subpaths=True, summary="Forward-auth decision for a reverse proxy",
                openapi_extra=FORWARD_DOC, response_class=Response, tags=["Gateway"])]
