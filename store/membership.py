"""Finding a member across the whole store, for callers not yet acting as anyone (the operator, `--as`).

An address may be a member of several organizations; then only the member id names one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turris_api.store import validation
from turris_api.store.errors import Invalid, NotFound
from turris_api.store.schema import members, organizations

ID_MAX = 2**31 - 1  # ids are sa.Integer: 32 bits on PostgreSQL, so a larger one cannot exist


def find_member(conn: Connection, ref: str | int) -> int:
    """The id of the member `ref` names: a member id, or an email exactly one organization has."""
    text = str(ref).strip()
    if isinstance(ref, int) or (text.isdigit() and text.isascii()):
        key = int(text) if len(text) <= 10 else ID_MAX + 1
        found = conn.execute(sa.select(members.c.id).where(members.c.id == key)).scalar() if key <= ID_MAX else None
        if found is None:
            raise NotFound(f"No member with id {validation.shown(text)} in this store.")
        return found
    rows = conn.execute(
        sa.select(members.c.id, organizations.c.name)
        .join(organizations, organizations.c.id == members.c.organization_id)
        .where(members.c.email == text.lower())
        .order_by(members.c.id)
    ).all()
    if not rows:
        raise NotFound(f"No member {validation.shown(text)} in this store.")
    if len(rows) > 1:
        which = ", ".join(f"{row.id} in {validation.shown(row.name)}" for row in rows)
        raise Invalid("member", f"{validation.shown(text)} is a member of {len(rows)} organizations; name the member "
                      f"by its id instead ({which}).", text)
    return rows[0].id
