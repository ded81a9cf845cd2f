"""Member access tokens (lifetime, listing, revocation), finding a member across organizations, and
the audit records of changes that are not credentials."""

from __future__ import annotations

from datetime import timedelta

import pytest

from turris_api.server.keys import rotate_signing_key
from turris_api.store.errors import Invalid, NotFound
from turris_api.store.local import LocalStore
from turris_api.store.operator import (
    create_organization,
    list_member_tokens,
    new_member_token,
    revoke_member_token,
)
from turris_api.store.schema import utcnow
from turris_api.store.verify import Verifier


@pytest.mark.parametrize(("given", "days"), [("30d", 30), ("1d", 1), ("365d", 365), ("2w", 14), ("48h", 2),
                                              (timedelta(days=7), 7)])
def test_a_member_token_lives_as_long_as_asked(admin, db, given, days):
    created = new_member_token(db, admin.me().member.email, given)
    lifetime = created.token.expires_at - created.token.created_at
    assert lifetime == timedelta(days=days)


def test_a_member_token_lives_90_days_unless_asked_otherwise(admin, db):
    token = new_member_token(db, admin.me().member.email).token
    assert token.expires_at - token.created_at == timedelta(days=90)


@pytest.mark.parametrize("given", ["0d", "366d", "23h", "forever", "", "-5d", timedelta(days=400)])
def test_a_lifetime_out_of_bounds_is_refused_naming_it(admin, db, given):
    with pytest.raises(Invalid) as err:
        new_member_token(db, admin.me().member.email, given)
    assert err.value.field == "expires_in"
    assert (str(given) if isinstance(given, str) else "400d") in str(err.value)
    assert list_member_tokens(db) == []


def test_listing_member_tokens_shows_everything_but_the_token(admin, db):
    email = admin.me().member.email
    first = new_member_token(db, email)
    admin.add_member("dev@example.com", "developer", True)
    new_member_token(db, "dev@example.com", "7d")
    listed = list_member_tokens(db)
    assert [t.member_email for t in listed] == [email, "dev@example.com"]
    assert listed[0] == first.token and first.value not in repr(listed)
    assert [t.member_email for t in list_member_tokens(db, "dev@example.com")] == ["dev@example.com"]
    verifier = Verifier(db)
    assert verifier.verify_member_token(first.value) is not None
    verifier.uses.flush()
    assert list_member_tokens(db)[0].last_used_at is not None


def test_revoking_a_member_token_is_immediate_and_audited(admin, db):
    created = new_member_token(db, admin.me().member.email)
    verifier = Verifier(db)
    assert verifier.verify_member_token(created.value) is not None  # now in the verifier's cache too
    assert revoke_member_token(db, created.token.id).id == created.token.id
    assert verifier.verify_member_token(created.value) is None
    for ref in (created.token.id, "nope", "9" * 5000):
        with pytest.raises(NotFound):
            revoke_member_token(db, ref)
    events = [(e.action, e.credential_type, e.credential_id) for e in admin.audit_events()]
    assert events == [("revoke", "member_token", created.token.id), ("issue", "member_token", created.token.id)]
    assert all(created.value not in repr(e) for e in admin.audit_events())


def test_an_expired_member_token_is_refused(admin, db, monkeypatch):
    from turris_api.store import verify

    created = new_member_token(db, admin.me().member.email, "1d")
    verifier = Verifier(db)
    assert verifier.verify_member_token(created.value) is not None
    moment = utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(verify, "utcnow", lambda: moment)
    assert verifier.verify_member_token(created.value) is None


def test_an_address_in_two_organizations_is_named_by_member_id(admin, db):
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival_boss = LocalStore(db, "boss@rival.example").me().member
    ours = admin.add_member("boss@rival.example", "member", False)
    for call in (lambda: LocalStore(db, "boss@rival.example"), lambda: new_member_token(db, "boss@rival.example")):
        with pytest.raises(Invalid) as err:
            call()
        assert f"{rival_boss.id} in \"Rival Inc\"" in str(err.value) and str(ours.id) in str(err.value)
    assert LocalStore(db, str(ours.id)).me().member == ours
    assert LocalStore(db, rival_boss.id).me().organization.name == "Rival Inc"
    token = new_member_token(db, ours.id)
    assert token.token.member_id == ours.id
    assert Verifier(db).verify_member_token(token.value).organization_id == ours.organization_id
    with pytest.raises(NotFound):
        LocalStore(db, "9" * 30)


def test_removing_a_member_revokes_their_tokens(admin, db):
    admin.add_member("dev@example.com", "developer", True)
    created = new_member_token(db, "dev@example.com")
    admin.remove_member("dev@example.com")
    assert list_member_tokens(db) == [] and Verifier(db).verify_member_token(created.value) is None
    [removed] = [e for e in admin.audit_events() if e.action == "remove"]
    assert "1 member access token" in removed.detail


def test_a_removed_members_id_never_names_a_new_member(admin, db):
    gone = admin.add_member("dev@example.com", "developer", True)
    admin.remove_member(gone.id)
    assert admin.add_member("new@example.com", "member", False).id != gone.id


def test_the_plan_switch_and_key_rotation_are_audited(admin, db):
    create_organization(db, "Rival Inc", "boss@rival.example")
    admin.set_api_access(False)
    admin.set_api_access(True)
    kid = rotate_signing_key(db)
    events = [(e.action, e.credential_type, e.credential_name, e.detail, e.actor) for e in admin.audit_events()]
    org = admin.me().organization.name
    email = admin.me().member.email
    assert events == [
        ("rotate", "signing_key", kid, "EdDSA", "operator"),
        ("set_plan", "organization", org, "api_access on", email),
        ("set_plan", "organization", org, "api_access off", email),
    ]
    rival = LocalStore(db, "boss@rival.example")
    assert [(e.action, e.credential_name) for e in rival.audit_events()] == [("rotate", kid)]
