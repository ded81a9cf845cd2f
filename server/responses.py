"""Small answer builders the routers share."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request, Response

from turris_api.server import metrics, schemas
from turris_api.store.errors import Invalid, StoreError, Unavailable

JSON = "application/json"
log = logging.getLogger("server")


def error_models(*statuses: int, model: type = schemas.ErrorOut) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` naming the error body of each status."""
    return {status: {"model": model} for status in statuses}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode("utf-8"), status_code=status, media_type=JSON, headers=headers)


def not_allowed(method: str, path: str, allow: str) -> Response:
    """405, naming the methods the path takes (RFC 9110 15.5.6)."""
    return json_response(405, {"error": "method_not_allowed", "message": f"{method} is not allowed on {path}."},
                         {"Allow": allow})


def store_error_response(err: StoreError, request: Request) -> Response:
    """The answer to a store failure: the error's status, code, message and field (never a stack)."""
    if err.http_status >= 500:
        metrics.child(metrics.STORE_ERRORS, type(err).__name__.lower()).inc()
    if err.http_status >= 500 and not isinstance(err, Unavailable):
        log.error("store error %s on %s %s", type(err).__name__, request.method, request.url.path)
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    headers = {}
    if isinstance(err, Invalid):
        body["field"] = err.field
        if err.value is not None:
            body["value"] = err.value[:200]
    if isinstance(err, Unavailable):
        headers["Retry-After"] = str(err.retry_after)
    return json_response(err.http_status, body, headers)
