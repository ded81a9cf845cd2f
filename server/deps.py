"""Dependencies the routers share: the instance's Service, and the store acting as a member."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from turris_api.server import logs
from turris_api.server.resources import BearerRefused
from turris_api.server.service import Service
from turris_api.store.local import LocalStore


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

member_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="memberToken",
    description="A member access token from `turris-api member token EMAIL`.",
)


def acting_store(
    service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(member_bearer)]
) -> LocalStore:
    """The store acting as the member whose access token was presented."""
    token = credentials.credentials if credentials else ""
    if not token:
        raise BearerRefused(401, None, "The management API needs a member access token (Authorization: Bearer).")
    member = service.verifier.verify_member_token(token) if len(token) <= service.settings.bearer_limit else None
    if member is None:
        logs.security_event("member_token_refused", status=401)
        raise BearerRefused(401, "invalid_token", "The member access token is unknown, expired or revoked.")
    logs.note_credential(f"member:{member.id}")
    return LocalStore(service.db, member.id)


Store = Annotated[LocalStore, Depends(acting_store)]
