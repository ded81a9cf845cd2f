"""The management API (what RemoteStore talks to): credentials, audit events and members,
acting as the member whose access token was presented."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from turris_api.server import schemas
from turris_api.server.deps import Store
from turris_api.server.responses import error_models, json_response
from turris_api.store import audit, shapes
from turris_api.store.membership import ID_MAX

Ref = Annotated[str, Path(max_length=254, description="Internal id (digits); for API Clients the Client ID too, "
                                                      "for members the email.")]
MANAGEMENT_ERRORS = error_models(401, 403, 404, 409, 413, 422, 503)

router = APIRouter(prefix="/v1", tags=["Management"], responses=MANAGEMENT_ERRORS)


def _authenticated_ref(_store: Store, ref: Ref) -> str:  # the member token is checked before the ref
    return ref


ItemRef = Annotated[str, Depends(_authenticated_ref)]


def _created(body: Any) -> Response:
    return json_response(201, body, {"Cache-Control": "no-store"})


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
    return _created(out.model_dump(mode="json"))


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


@router.post(
    "/api-clients/{ref}/roll",
    status_code=201,
    response_model=schemas.CreatedClientOut,
    summary="A new Client Secret, in this answer only; the current one works for keep_old_for_seconds more",
)
def roll_client(ref: ItemRef, store: Store, body: schemas.RollIn | None = None) -> Response:
    result = store.roll_client(ref, (body or schemas.RollIn()).keep_old_for_seconds)
    out = schemas.CreatedClientOut.model_validate(shapes.created_client_json(result))
    return _created(out.model_dump(mode="json"))


@router.post("/api-clients/{ref}/end-old", response_model=schemas.ApiClientOut,
             summary="The previous secret of a roll stops working now")
def end_old_client(ref: ItemRef, store: Store) -> schemas.ApiClientOut:
    return schemas.ApiClientOut.model_validate(store.end_old_client(ref))


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
    return _created(out.model_dump(mode="json"))


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


@router.post(
    "/restricted-tokens/{ref}/roll",
    status_code=201,
    response_model=schemas.CreatedTokenOut,
    summary="A new token value, in this answer only; the current one works for keep_old_for_seconds more",
)
def roll_token(ref: ItemRef, store: Store, body: schemas.RollIn | None = None) -> Response:
    result = store.roll_token(ref, (body or schemas.RollIn()).keep_old_for_seconds)
    out = schemas.CreatedTokenOut.model_validate(shapes.created_token_json(result))
    return _created(out.model_dump(mode="json"))


@router.post("/restricted-tokens/{ref}/end-old", response_model=schemas.RestrictedTokenOut,
             summary="The previous value of a roll stops working now")
def end_old_token(ref: ItemRef, store: Store) -> schemas.RestrictedTokenOut:
    return schemas.RestrictedTokenOut.model_validate(store.end_old_token(ref))


AuditKind = Literal[audit.KINDS]  # type: ignore[valid-type] (the tuple spells out the values)


@router.get("/audit-events", response_model=list[schemas.AuditEventOut], summary="Recent changes, newest first")
def audit_events(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=audit.LIMIT_MAX)] = 50,
    before: Annotated[int | None, Query(ge=1, le=ID_MAX, description="Only events older than this event id "
                                                                     "(the last id of the page before).")] = None,
    credential_type: Annotated[AuditKind | None, Query(description="Only events about this kind of record.")] = None,
    credential_id: Annotated[int | None, Query(ge=0, le=ID_MAX, description="Only events about the record with "
                                                                            "this id (needs credential_type).")] = None,
) -> list[schemas.AuditEventOut]:
    events = store.audit_events(limit, before, credential_type, credential_id)
    return [schemas.AuditEventOut.model_validate(e) for e in events]


@router.get("/members", response_model=list[schemas.MemberOut], summary="Members of the organization")
def list_members(store: Store) -> list[schemas.MemberOut]:
    return [schemas.MemberOut.model_validate(m) for m in store.list_members()]


@router.post("/members", status_code=201, response_model=schemas.MemberOut, summary="Add a member (admins)")
def add_member(draft: schemas.MemberDraftIn, store: Store) -> Response:
    member = store.add_member(draft.email, draft.role, draft.can_manage_credentials, draft.display_name)
    return _created(schemas.MemberOut.model_validate(member).model_dump(mode="json"))


@router.patch("/members/{ref}", response_model=schemas.MemberOut,
              summary="Change a member's role or credential permission (admins)")
def update_member(ref: ItemRef, change: schemas.MemberUpdateIn, store: Store) -> schemas.MemberOut:
    return schemas.MemberOut.model_validate(store.update_member(ref, change.role, change.can_manage_credentials))


@router.delete("/members/{ref}", status_code=204, response_class=Response,
               summary="Remove a member and revoke their member access tokens (admins)")
def remove_member(ref: ItemRef, store: Store) -> Response:
    store.remove_member(ref)
    return Response(status_code=204)
