"""Audit records: what changed, who did it, and which record it concerns. Never a secret."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turris_api.store.errors import Invalid
from turris_api.store.membership import ID_MAX
from turris_api.store.models import (
    API_CLIENT,
    MEMBER,
    MEMBER_TOKEN,
    ORGANIZATION,
    RESTRICTED_TOKEN,
    SIGNING_KEY,
    AuditEvent,
)
from turris_api.store.schema import audit_events, organizations, utcnow
from turris_api.store.validation import shown

KINDS = (API_CLIENT, RESTRICTED_TOKEN, MEMBER, MEMBER_TOKEN, ORGANIZATION, SIGNING_KEY)  # what a record may be about
NAME_MAX = 254
DETAIL_MAX = 200
LIMIT_MAX = 1000  # events in one page


def record(conn: Connection, organization_id: int, actor: str, action: str, kind: str, subject_id: int,
           name: str, detail: str = "") -> None:
    conn.execute(
        audit_events.insert().values(
            organization_id=organization_id,
            at=utcnow(),
            actor=actor,
            action=action,
            credential_type=kind,
            credential_id=subject_id,
            credential_name=name[:NAME_MAX],
            detail=detail[:DETAIL_MAX],
        )
    )


def record_everywhere(conn: Connection, actor: str, action: str, kind: str, name: str, detail: str = "") -> None:
    """One record in every organization's log, for a change that concerns them all (signing keys)."""
    for organization_id in conn.execute(sa.select(organizations.c.id)).scalars().all():
        record(conn, organization_id, actor, action, kind, 0, name, detail)


def check_page(limit: int, before: int | None, credential_type: str | None, credential_id: int | None) -> None:
    """Refuse a page or filter no listing can have, naming the field and the value."""
    _whole(limit, "limit", "Limit", 1, LIMIT_MAX)
    if before is not None:
        _whole(before, "before", "Before (an event id)", 1, ID_MAX)
    if credential_type is not None and credential_type not in KINDS:
        raise Invalid("credential_type", f"Credential type {shown(str(credential_type))} is not one of: "
                      f"{', '.join(KINDS)}.", str(credential_type))
    if credential_id is not None:
        _whole(credential_id, "credential_id", "Credential id", 0, ID_MAX)
        if credential_type is None:  # ids are counted per type: id 7 alone could be a client or a member
            raise Invalid("credential_id", f"Credential id {credential_id} needs a credential_type too (one of: "
                          f"{', '.join(KINDS)}).", str(credential_id))


def _whole(value: object, field: str, label: str, least: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(field, f"{label} {shown(str(value))} is not a whole number.", str(value))
    if not least <= value <= most:
        raise Invalid(field, f"{label} {value} must be between {least} and {most}.", str(value))


def events(conn: Connection, organization_id: int, limit: int, before: int | None = None,
           credential_type: str | None = None, credential_id: int | None = None) -> list[AuditEvent]:
    """One organization's records, newest first: those older than event `before`, about one kind or one record."""
    query = sa.select(audit_events).where(audit_events.c.organization_id == organization_id)
    if before is not None:
        query = query.where(audit_events.c.id < before)
    if credential_type is not None:
        query = query.where(audit_events.c.credential_type == credential_type)
    if credential_id is not None:
        query = query.where(audit_events.c.credential_id == credential_id)
    rows = conn.execute(query.order_by(audit_events.c.id.desc()).limit(limit)).all()
    return [
        AuditEvent(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            credential_type=r.credential_type,
            credential_id=r.credential_id,
            credential_name=r.credential_name,
            detail=r.detail,
        )
        for r in rows
    ]
