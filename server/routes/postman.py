"""This service's API as a Postman collection, for Postman's Import → Link (turris-api postman export
writes the same file, and an environment to go with it)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from turris_api.server import postman
from turris_api.server.deps import ServiceDep
from turris_api.server.responses import json_response

router = APIRouter(tags=["Postman"])


@router.get(
    postman.COLLECTION_PATH,
    summary="This service's API as a Postman collection (v2.1): Postman → Import → Link",
    responses={200: {"description": "A Postman collection; no secret in it.", "content": {"application/json": {}}}},
)
def collection(request: Request, service: ServiceDep) -> Response:
    body = postman.collection(request.app.openapi(), service.settings.issuer)
    return json_response(200, body, {
        "Cache-Control": "public, max-age=300",
        "Content-Disposition": f'inline; filename="{postman.COLLECTION_FILE}"',
    })
