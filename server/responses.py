"""Small answer builders the routers share."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response

from turris_api.server import schemas

JSON = "application/json"


def error_models(*statuses: int, model: type = schemas.ErrorOut) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` naming the error body of each status."""
    return {status: {"model": model} for status in statuses}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode("utf-8"), status_code=status, media_type=JSON, headers=headers)
