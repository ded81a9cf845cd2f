"""Writing audit records: what changed, who did it, and which record it concerns. Never a secret."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turris_api.store.schema import audit_events, organizations, utcnow

API_CLIENT = "api_client"
RESTRICTED_TOKEN = "restricted_token"  # noqa: S105 (a type name)
MEMBER = "member"
MEMBER_TOKEN = "member_token"  # noqa: S105 (a type name)
ORGANIZATION = "organization"
SIGNING_KEY = "signing_key"
OPERATOR = "operator"  # the actor of changes made with access to the database itself, not as a member
NAME_MAX = 254
DETAIL_MAX = 200


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
