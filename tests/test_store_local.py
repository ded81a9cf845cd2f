"""LocalStore behaviour: listing order, conflicts, isolation between organizations, verification."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type

from turris_api.store import crypto
from turris_api.store.errors import Conflict, Invalid, NotFound
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import create_organization
from turris_api.store.schema import api_clients, restricted_tokens
from turris_api.store.verify import Verifier


def test_listings_are_sorted_by_name_case_insensitively_and_carry_no_secret(admin):
    for name in ["beta", "Alpha", "gamma", "alpha"]:
        admin.create_client(ClientDraft(name))
        admin.create_token(TokenDraft(name, "10.0.0.1"))
    assert [c.name for c in admin.list_clients()] == ["Alpha", "alpha", "beta", "gamma"]
    assert [t.name for t in admin.list_tokens()] == ["Alpha", "alpha", "beta", "gamma"]
    fields = set(vars(admin.list_clients()[0])) | set(vars(admin.list_tokens()[0]))
    # last fours and the end of a roll's overlap only: never a value or a hash
    assert not {f for f in fields if "secret" in f or "hash" in f or f == "token"} - {
        "secret_last4", "old_secret_last4", "old_secret_expires_at"}


def test_create_generates_prefixed_high_entropy_secrets_shown_once(admin):
    created = admin.create_client(ClientDraft("  Loader  ", "", "https://App.Example.com:443"))
    assert created.client.name == "Loader"
    assert created.client.client_id.startswith("trs_ci_")
    assert created.secret.startswith("trs_cs_") and len(created.secret) >= len("trs_cs_") + 43
    assert created.client.secret_last4 == created.secret[-4:]
    assert created.client.allowed_origins == ("https://app.example.com",)
    assert created.client.status == "active" and created.client.version == 1
    assert created.secret not in repr(created)
    token = admin.create_token(TokenDraft("Portal", "::ffff:10.1.2.3, 10.1.2.3"))
    assert token.value.startswith("trs_rat_") and token.token.token_last4 == token.value[-4:]
    assert token.token.allowed_ips == ("10.1.2.3",)


def test_bad_input_names_the_field_and_value_and_stores_nothing(admin):
    with pytest.raises(Invalid) as err:
        admin.create_client(ClientDraft("Loader", "", "https://ok.example, ftp://x"))
    assert err.value.field == "allowed_origins" and '"ftp://x"' in str(err.value)
    with pytest.raises(Invalid) as err:
        admin.create_token(TokenDraft("Portal", "10.0.0.1, 300.1.1.1"))
    assert err.value.field == "allowed_ips" and '"300.1.1.1"' in str(err.value)
    with pytest.raises(Invalid) as err:
        admin.create_token(TokenDraft("Portal", " , "))
    assert err.value.field == "allowed_ips"
    with pytest.raises(Invalid) as err:
        admin.create_client(ClientDraft("   "))
    assert err.value.field == "name"
    with pytest.raises(Invalid) as err:
        admin.create_client(ClientDraft("x" * 101))
    assert err.value.field == "name" and "101" in str(err.value)
    with pytest.raises(Invalid) as err:
        admin.create_client(ClientDraft("ok", "d" * 501))
    assert err.value.field == "description"
    assert admin.list_clients() == [] and admin.list_tokens() == [] and admin.audit_events() == []


def test_a_stale_version_is_a_conflict_and_never_overwrites(admin):
    client = admin.create_client(ClientDraft("Loader", "v1")).client
    first = admin.update_client(client.id, ClientDraft("Loader", "first admin's edit"), client.version)
    assert first.version == client.version + 1
    with pytest.raises(Conflict):
        admin.update_client(client.id, ClientDraft("Loader", "second admin's edit"), client.version)
    assert admin.get_client(client.id).description == "first admin's edit"
    token = admin.create_token(TokenDraft("Portal", "10.0.0.1")).token
    admin.update_token(token.id, TokenDraft("Portal", "10.0.0.2"), token.version)
    with pytest.raises(Conflict):
        admin.update_token(token.id, TokenDraft("Portal", "10.0.0.3"), token.version)
    assert admin.get_token(token.id).allowed_ips == ("10.0.0.2",)
    assert [e.action for e in admin.audit_events()] == ["update", "create", "update", "create"]


def test_update_changes_metadata_only_and_delete_is_immediate(admin, db):
    created = admin.create_client(ClientDraft("Loader", "", "https://a.example"))
    verifier = Verifier(db)
    updated = admin.update_client(created.client.client_id, ClientDraft("Loader 2", "new", ""), 1)
    assert updated.secret_last4 == created.client.secret_last4 and updated.allowed_origins == ()
    assert verifier.verify_client(created.client.client_id, created.secret) is not None
    admin.delete_client(created.client.client_id)
    assert verifier.verify_client(created.client.client_id, created.secret) is None
    with pytest.raises(NotFound):
        admin.get_client(created.client.id)


def test_another_organizations_credentials_behave_as_not_found(admin, db):
    create_organization(db, "Rival Corp", "boss@rival.example")
    rival = LocalStore(db, "boss@rival.example")
    theirs = rival.create_client(ClientDraft("Rival loader")).client
    their_token = rival.create_token(TokenDraft("Rival portal", "10.9.9.9")).token
    mine = admin.create_client(ClientDraft("My loader")).client

    assert [c.name for c in admin.list_clients()] == ["My loader"]
    assert admin.list_tokens() == []
    for call in (
        lambda: admin.get_client(theirs.id),
        lambda: admin.get_client(theirs.client_id),
        lambda: admin.update_client(theirs.id, ClientDraft("Mine now"), theirs.version),
        lambda: admin.delete_client(theirs.client_id),
        lambda: admin.get_token(their_token.id),
        lambda: admin.delete_token(their_token.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert rival.get_client(theirs.id) == theirs
    assert [e.credential_name for e in rival.audit_events()] == ["Rival portal", "Rival loader"]
    assert [e.credential_name for e in admin.audit_events()] == [mine.name]


def test_client_verification_fails_closed(admin, db):
    created = admin.create_client(ClientDraft("Loader"))
    verifier = Verifier(db)
    client_id = created.client.client_id
    assert verifier.verify_client(client_id, created.secret).client_id == client_id
    assert verifier.verify_client(client_id, created.secret + "x") is None
    assert verifier.verify_client("trs_ci_unknown", created.secret) is None
    admin.set_client_status(client_id, "disabled")
    assert verifier.verify_client(client_id, created.secret) is None
    assert verifier.active_client(client_id) is None
    admin.set_client_status(client_id, "active")
    assert verifier.verify_client(client_id, created.secret) is not None
    admin.set_api_access(False)
    assert verifier.verify_client(client_id, created.secret) is None


def test_unknown_client_ids_cost_one_hash_verification_too(admin, db, monkeypatch):
    created = admin.create_client(ClientDraft("Loader"))
    calls = []
    real_hasher = crypto.HASHER

    class CountingHasher:
        def verify(self, stored, presented):
            calls.append(stored)
            return real_hasher.verify(stored, presented)

    monkeypatch.setattr(crypto, "HASHER", CountingHasher())
    verifier = Verifier(db)
    verifier.verify_client(created.client.client_id, "wrong")
    verifier.verify_client("trs_ci_doesnotexist", "wrong")
    verifier.verify_restricted_token("trs_rat_0123456789abcdef_nope")
    assert len(calls) == 3
    assert calls[1].startswith("$argon2id$") and calls[1] == calls[2]  # the dummy hash


def test_restricted_token_is_found_by_its_locator_and_checked_against_its_hash(admin, db):
    created = admin.create_token(TokenDraft("Portal", "10.0.0.0/8, 2001:db8::/32"))
    verifier = Verifier(db)
    found = verifier.verify_restricted_token(created.value)
    assert found.name == "Portal" and found.allowed_ips == ("10.0.0.0/8", "2001:db8::/32")
    forged = created.value[:-4] + ("AAAA" if not created.value.endswith("AAAA") else "BBBB")
    assert verifier.verify_restricted_token(forged) is None
    assert verifier.verify_restricted_token("not-a-token") is None
    admin.update_token(created.token.id, TokenDraft("Portal", "192.0.2.1"), created.token.version)
    assert verifier.verify_restricted_token(created.value).allowed_ips == ("192.0.2.1",)
    admin.delete_token(created.token.id)
    assert verifier.verify_restricted_token(created.value) is None


def test_last_used_is_recorded_at_most_once_a_minute(admin, db):
    created = admin.create_client(ClientDraft("Loader"))
    verifier = Verifier(db)
    verifier.uses.interval = 3600  # written back when the test says, not by the timer on a busy machine
    verifier.verify_client(created.client.client_id, created.secret)
    assert admin.get_client(created.client.id).last_used_at is None  # recorded, not yet written back
    verifier.uses.flush()
    first = admin.get_client(created.client.id).last_used_at
    assert first is not None
    verifier.verify_client(created.client.client_id, created.secret)
    verifier.uses.flush()
    assert admin.get_client(created.client.id).last_used_at == first
    with db.write() as conn:
        conn.execute(api_clients.update().values(last_used_at=first - timedelta(minutes=2)))
    verifier.verify_client(created.client.client_id, created.secret)
    verifier.uses.flush()
    assert admin.get_client(created.client.id).last_used_at > first


def test_hashes_with_outdated_parameters_are_upgraded_on_the_next_successful_check(admin, db):
    created = admin.create_client(ClientDraft("Loader"))
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1, type=Type.ID).hash(created.secret)
    with db.write() as conn:
        conn.execute(api_clients.update().values(secret_hash=old))
    assert crypto.needs_rehash(old)
    verifier = Verifier(db)
    assert verifier.verify_client(created.client.client_id, created.secret) is not None
    verifier.uses.flush()  # written back with the uses, so the check never waited for it
    with db.read() as conn:
        stored = conn.execute(sa.select(api_clients.c.secret_hash)).scalar_one()
    assert stored != old and not crypto.needs_rehash(stored)
    assert Verifier(db).verify_client(created.client.client_id, created.secret) is not None


def test_an_upgraded_hash_never_overwrites_a_secret_rolled_before_it_was_written(admin, db):
    created = admin.create_client(ClientDraft("Loader"))
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1, type=Type.ID).hash(created.secret)
    with db.write() as conn:
        conn.execute(api_clients.update().values(secret_hash=old))
    verifier = Verifier(db)
    assert verifier.verify_client(created.client.client_id, created.secret) is not None
    new_secret = admin.roll_client(created.client.id, keep_old_for=0).secret  # before the upgrade is written
    verifier.uses.flush()
    assert verifier.verify_client(created.client.client_id, new_secret) is not None
    assert verifier.verify_client(created.client.client_id, created.secret) is None


def test_token_hashes_are_salted_so_equal_lookups_need_the_locator(admin, db):
    a = admin.create_token(TokenDraft("A", "10.0.0.1"))
    b = admin.create_token(TokenDraft("B", "10.0.0.1"))
    with db.read() as conn:
        rows = conn.execute(sa.select(restricted_tokens.c.locator, restricted_tokens.c.token_hash)).all()
    assert len({r.locator for r in rows}) == 2
    assert all(r.locator in v for r, v in zip(sorted(rows), sorted([a.value, b.value], key=lambda v: v[8:24])))


@pytest.mark.parametrize("ref", ["99999999999999999999999", "²", "١٢", "trs_ci_\x00", "", "   ", "x" * 300])
def test_refs_no_credential_can_have_are_simply_not_found(admin, ref):
    admin.create_client(ClientDraft("Loader"))
    admin.create_token(TokenDraft("Portal", "10.0.0.1"))
    for call in (admin.get_client, admin.get_token, admin.delete_client, admin.delete_token):
        with pytest.raises(NotFound):
            call(ref)
    assert len(admin.list_clients()) == 1 and len(admin.list_tokens()) == 1
