"""The seed's permission matrix, enforced by the store itself, for every role x permission x plan."""

from __future__ import annotations

import pytest

from turris_api.store.errors import PermissionDenied
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft

ROLES = ["admin", "developer", "member", "billing"]


def expected(role: str, permission: bool, plan: bool) -> dict[str, bool]:
    """Straight from the seed's "Roles and Permissions" section."""
    return {
        "view": plan,
        "manage_clients": plan and permission and role in ("admin", "developer"),
        "manage_tokens": plan and permission,
    }


@pytest.mark.parametrize("plan", [True, False], ids=["plan-api", "plan-none"])
@pytest.mark.parametrize("permission", [True, False], ids=["perm", "no-perm"])
@pytest.mark.parametrize("role", ROLES)
def test_every_action_is_allowed_or_refused_as_the_seed_says(admin, db, role, permission, plan):
    client = admin.create_client(ClientDraft("Existing client")).client
    token = admin.create_token(TokenDraft("Existing token", "10.0.0.1")).token
    admin.add_member(f"{role}@example.com", role, permission)
    if not plan:
        admin.set_api_access(False)
    me = LocalStore(db, f"{role}@example.com")
    rules = expected(role, permission, plan)

    attempts = {
        "view": [me.list_clients, me.list_tokens, lambda: me.get_client(client.id), lambda: me.get_token(token.id),
                 me.audit_events],
        "manage_clients": [
            lambda: me.create_client(ClientDraft("Mine")),
            lambda: me.update_client(client.id, ClientDraft("Renamed"), client.version),
            lambda: me.delete_client(client.id),
        ],
        "manage_tokens": [
            lambda: me.create_token(TokenDraft("Mine", "10.0.0.2")),
            lambda: me.update_token(token.id, TokenDraft("Renamed", "10.0.0.3"), token.version),
            lambda: me.delete_token(token.id),
        ],
    }
    for kind, calls in attempts.items():
        for call in calls:
            if rules[kind]:
                call()
            else:
                with pytest.raises(PermissionDenied):
                    call()

    identity = me.me()
    assert identity.can_view == rules["view"]
    assert identity.can_manage_clients == rules["manage_clients"]
    assert identity.can_manage_tokens == rules["manage_tokens"]


def test_a_refused_change_changes_nothing(admin, db):
    client = admin.create_client(ClientDraft("Loader", "nightly", "https://a.example")).client
    admin.add_member("viewer@example.com", "member", False)
    viewer = LocalStore(db, "viewer@example.com")
    with pytest.raises(PermissionDenied):
        viewer.update_client(client.id, ClientDraft("Hijacked"), client.version)
    with pytest.raises(PermissionDenied):
        viewer.delete_client(client.id)
    assert admin.get_client(client.id) == client
    assert [e.action for e in admin.audit_events()] == ["add", "create"]  # adding the viewer is recorded too


def test_only_an_admin_with_the_permission_adds_members(admin, db):
    admin.add_member("dev@example.com", "developer", True)
    developer = LocalStore(db, "dev@example.com")
    with pytest.raises(PermissionDenied):
        developer.add_member("sneaky@example.com", "admin", True)
    assert [m.email for m in admin.list_members()] == sorted([admin.me().member.email, "dev@example.com"])
