"""The seed's permission rules, checked by the store for every caller."""

from __future__ import annotations

from turris_api.store.errors import Conflict, PermissionDenied
from turris_api.store.models import ADMIN, DEVELOPER, Me, Member

CLIENT_ROLES = frozenset({ADMIN, DEVELOPER})


def can_view(me: Me) -> bool:
    return me.organization.api_access


def can_manage_clients(me: Me) -> bool:
    return can_view(me) and me.member.can_manage_credentials and me.member.role in CLIENT_ROLES


def can_manage_tokens(me: Me) -> bool:
    return can_view(me) and me.member.can_manage_credentials


def manages_members(member: Member) -> bool:
    return member.role == ADMIN and member.can_manage_credentials


def can_manage_members(me: Me) -> bool:
    return manages_members(me.member)


def require_view(me: Me) -> None:
    if not can_view(me):
        raise PermissionDenied(
            f"The plan of {me.organization.name} does not include API access."
        )


def require_manage_clients(me: Me) -> None:
    require_view(me)
    if not me.member.can_manage_credentials:
        raise PermissionDenied(
            f"{me.member.email} lacks the permission to manage API credentials."
        )
    if me.member.role not in CLIENT_ROLES:
        raise PermissionDenied(
            f"Managing API Clients needs the Admin or Developer role; {me.member.email} is {me.member.role}."
        )


def require_manage_tokens(me: Me) -> None:
    require_view(me)
    if not me.member.can_manage_credentials:
        raise PermissionDenied(
            f"{me.member.email} lacks the permission to manage API credentials."
        )


def require_manage_members(me: Me, doing: str = "Adding members") -> None:
    if not can_manage_members(me):
        lacks = "" if me.member.can_manage_credentials else " without it"
        raise PermissionDenied(
            f"{doing} needs the Admin role and the credential permission; "
            f"{me.member.email} is {me.member.role}{lacks}."
        )


def require_a_member_manager_remains(me: Me, member: Member, managers_after: int, doing: str) -> None:
    """Nobody could add, remove or promote members again if the last admin holding the credential
    permission went: refuse that change."""
    if managers_after < 1:
        raise Conflict(
            f"{doing} {member.email} would leave {me.organization.name} without an admin who can manage "
            "members; first make another member an admin with the credential permission."
        )
