"""Rolling a secret with an overlap, expiry and the lifetime cap, through LocalStore and RemoteStore alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.server_support import in_process
from tests.support.clock import install_clock
from turris_api.store.errors import Conflict, Invalid, PermissionDenied
from turris_api.store.interface import CredentialStore
from turris_api.store.local import LocalStore
from turris_api.store.models import EXPIRED, ClientDraft, TokenDraft
from turris_api.store.operator import issue_member_token
from turris_api.store.remote import RemoteStore


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


@pytest.fixture(params=["local", "remote"])
def store_for(request, db):
    if request.param == "local":
        yield lambda email: LocalStore(db, email)
        return
    with in_process(db) as service:
        yield lambda email: RemoteStore("http://testserver", issue_member_token(db, email), client=service)


@pytest.fixture
def store(store_for, admin) -> CredentialStore:
    return store_for(admin.me().member.email)


def test_a_roll_shows_the_new_secret_once_and_keeps_the_old_one_for_the_overlap(store, clock):
    created = store.create_client(ClientDraft("Loader"))
    rolled = store.roll_client(created.client.id, "24h")

    assert rolled.secret != created.secret and rolled.secret.endswith(rolled.client.secret_last4)
    assert rolled.client.client_id == created.client.client_id  # the Client ID never changes
    shown = store.get_client(created.client.id)
    assert shown.secret_last4 == rolled.client.secret_last4
    assert shown.old_secret_last4 == created.client.secret_last4
    assert shown.old_until(clock.now) == clock.now + timedelta(hours=24)
    assert shown.old_until(clock.advance(hours=24)) is None  # it stopped working
    assert rolled.secret not in repr(shown) and created.secret not in repr(store.audit_events())


def test_rolling_again_replaces_the_old_value_and_zero_ends_it_at_once(store, clock):
    created = store.create_client(ClientDraft("Loader"))
    first = store.roll_client(created.client.id)
    second = store.roll_client(created.client.id, "30m")
    shown = store.get_client(created.client.id)
    assert shown.old_secret_last4 == first.client.secret_last4  # at most one old value
    assert shown.old_until(clock.now) == clock.now + timedelta(minutes=30)

    store.roll_client(created.client.id, 0)
    assert store.get_client(created.client.id).old_until(clock.now) is None
    assert second.client.version < store.get_client(created.client.id).version


def test_end_old_ends_it_early_and_both_are_audited(store, clock):
    token = store.create_token(TokenDraft("Portal", "10.0.0.1")).token
    store.roll_token(token.id, "7d")
    ended = store.end_old_token(token.id)
    assert ended.old_until(clock.now) is None
    with pytest.raises(Conflict, match="no old token"):
        store.end_old_token(token.id)
    client = store.create_client(ClientDraft("Loader")).client
    store.roll_client(client.id)
    store.end_old_client(client.id)
    actions = [(e.action, e.credential_name) for e in store.audit_events(4)]
    assert actions == [("end_old", "Loader"), ("roll", "Loader"), ("create", "Loader"), ("end_old", "Portal")]
    assert "works until" in store.audit_events(2)[1].detail


@pytest.mark.parametrize("bad", ["31d", "soon", "-1h", "5"])
def test_a_bad_overlap_names_itself(store, bad):
    client = store.create_client(ClientDraft("Loader")).client
    with pytest.raises(Invalid) as refused:
        store.roll_client(client.id, bad)
    assert bad.lstrip("-").rstrip("dhs") in str(refused.value)
    assert store.get_client(client.id).old_secret_last4 is None


def test_roll_follows_the_update_rules(store, store_for):
    client = store.create_client(ClientDraft("Loader")).client
    token = store.create_token(TokenDraft("Portal", "10.0.0.1")).token
    store.add_member("member@example.com", "member", True)  # the permission, not the role
    member = store_for("member@example.com")
    with pytest.raises(PermissionDenied, match="Admin or Developer"):
        member.roll_client(client.id)
    with pytest.raises(PermissionDenied):
        member.end_old_client(client.id)
    assert member.roll_token(token.id).value  # tokens need the permission only
    store.add_member("viewer@example.com", "developer", False)
    with pytest.raises(PermissionDenied, match="lacks the permission"):
        store_for("viewer@example.com").roll_token(token.id)


def test_expired_credentials_stay_listed_as_expired(store, clock):
    client = store.create_client(ClientDraft("Loader", expires="1d")).client
    token = store.create_token(TokenDraft("Portal", "10.0.0.1", expires="2h")).token
    assert client.expires_at == clock.now + timedelta(days=1)
    clock.advance(days=2)
    assert [c.shown_status(clock.now) for c in store.list_clients()] == [EXPIRED]
    assert [t.shown_status(clock.now) for t in store.list_tokens()] == [EXPIRED]
    with pytest.raises(Conflict, match="expired"):
        store.roll_client(client.id)
    renewed = store.update_token(token.id, TokenDraft("Portal", "10.0.0.1", expires="30d"), token.version)
    assert renewed.shown_status(clock.now) != EXPIRED
    # an update that leaves the expiry as it is keeps it, even a past one
    kept = store.update_client(client.id, ClientDraft("Renamed", expires=client.expires_at), client.version)
    assert kept.expires_at == client.expires_at


@pytest.mark.parametrize("bad", ["yesterday", "2001-01-01", "0d", "99999d"])
def test_a_bad_expiry_names_itself(store, bad):
    with pytest.raises(Invalid) as refused:
        store.create_client(ClientDraft("Loader", expires=bad))
    assert refused.value.field == "expires"
    assert store.list_clients() == []


def test_the_lifetime_cap_refuses_longer_and_defaults_to_itself(store, admin, clock):
    admin.set_max_lifetime("365d")
    assert store.me().organization.max_lifetime_days == 365
    with pytest.raises(Invalid, match="365 days"):
        store.create_client(ClientDraft("Loader", expires="400d"))
    assert store.create_token(TokenDraft("Portal", "10.0.0.1")).token.expires_at == clock.now + timedelta(days=365)
    assert store.create_client(ClientDraft("Loader", expires="90d")).client.expires_at == clock.now + timedelta(days=90)
    assert "set_policy" in [e.action for e in admin.audit_events(5)]
