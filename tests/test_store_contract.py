"""The CredentialStore contract: the same assertions against LocalStore and RemoteStore.

The remote case runs the real service in-process (Starlette's TestClient is an httpx.Client),
so a difference here is a difference a user of `turris-api --remote` would meet.
"""

from __future__ import annotations

import pytest

from tests.server_support import in_process
from turris_api.store.errors import Conflict, Invalid, NotFound, PermissionDenied
from turris_api.store.interface import CredentialStore
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import create_organization, issue_member_token
from turris_api.store.remote import RemoteStore


@pytest.fixture(params=["local", "remote"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def service(db, kind):
    if kind == "local":
        yield None
        return
    with in_process(db) as client:
        yield client


@pytest.fixture
def store_for(db, kind, service):
    """A store acting as the member with this email, the way the app would open it."""

    def make(email: str) -> CredentialStore:
        if kind == "local":
            return LocalStore(db, email)
        return RemoteStore("http://testserver", issue_member_token(db, email), client=service)

    return make


@pytest.fixture
def admin_email(admin) -> str:
    return admin.me().member.email


@pytest.fixture
def store(store_for, admin_email) -> CredentialStore:
    return store_for(admin_email)


def test_it_is_a_credential_store_that_says_where_it_lives(store, kind, db):
    assert isinstance(store, CredentialStore)
    assert store.description == ("remote http://testserver" if kind == "remote" else db.description)


def test_me_is_the_acting_member_and_their_plan(store, admin):
    me = store.me()
    assert me == admin.me()
    assert me.can_manage_clients and me.can_manage_tokens and me.sees_credential_controls


def test_create_shows_the_secret_once_and_lists_only_its_last_four(store):
    created = store.create_client(ClientDraft("Loader", "Nightly ETL", "https://App.Example.com:443, http://localhost:3000"))
    assert created.secret.startswith("trs_cs_")
    client = created.client
    assert client.name == "Loader" and client.description == "Nightly ETL"
    assert client.allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert client.status == "active" and client.is_active and client.version == 1
    assert client.secret_last4 == created.secret[-4:]
    assert client.created_at.tzinfo is not None
    listed = store.list_clients()
    assert listed == [client]
    assert created.secret not in repr(listed)
    assert store.get_client(client.id) == client
    assert store.get_client(client.client_id) == client


def test_tokens_show_their_value_once(store):
    created = store.create_token(TokenDraft("Portal", ["10.0.0.0/8", "::ffff:192.0.2.1"]))
    assert created.value.startswith("trs_rat_")
    token = created.token
    assert token.allowed_ips == ("10.0.0.0/8", "192.0.2.1")
    assert token.token_last4 == created.value[-4:]
    assert store.list_tokens() == [token]
    assert store.get_token(token.id) == token
    assert created.value not in repr(store.list_tokens())


def test_listings_are_sorted_by_name(store):
    for name in ["beta", "Alpha", "gamma"]:
        store.create_client(ClientDraft(name))
        store.create_token(TokenDraft(name, "10.0.0.1"))
    assert [c.name for c in store.list_clients()] == ["Alpha", "beta", "gamma"]
    assert [t.name for t in store.list_tokens()] == ["Alpha", "beta", "gamma"]


def test_update_needs_the_current_version_and_a_stale_one_changes_nothing(store):
    client = store.create_client(ClientDraft("Loader")).client
    updated = store.update_client(client.client_id, ClientDraft("Loader v2", "", ["https://a.example"]), client.version)
    assert updated.name == "Loader v2" and updated.version == client.version + 1
    assert updated.allowed_origins == ("https://a.example",)
    with pytest.raises(Conflict):
        store.update_client(client.id, ClientDraft("Lost update"), client.version)
    assert store.get_client(client.id) == updated

    token = store.create_token(TokenDraft("Portal", "10.0.0.1")).token
    changed = store.update_token(token.id, TokenDraft("Portal", "10.0.0.2"), token.version)
    assert changed.allowed_ips == ("10.0.0.2",) and changed.version == 2
    with pytest.raises(Conflict):
        store.update_token(token.id, TokenDraft("Portal", "10.0.0.3"), token.version)
    assert store.get_token(token.id) == changed


def test_saving_the_stored_values_again_changes_nothing(store):
    client = store.create_client(ClientDraft("Loader", "Nightly", "https://a.example")).client
    again = store.update_client(client.id, ClientDraft(" Loader ", "Nightly", "https://a.example"), client.version)
    assert again == client  # same version: nothing was written
    token = store.create_token(TokenDraft("Portal", "10.0.0.1")).token
    assert store.update_token(token.id, TokenDraft("Portal", "10.0.0.1"), token.version) == token
    updates = [e for e in store.audit_events() if e.action == "update"]
    assert updates == []


def test_bad_input_names_the_field_and_the_value_and_stores_nothing(store):
    with pytest.raises(Invalid) as err:
        store.create_client(ClientDraft("Loader", "", "https://ok.example, ftp://x"))
    assert err.value.field == "allowed_origins"
    assert '"ftp://x"' in str(err.value)
    with pytest.raises(Invalid) as err:
        store.create_client(ClientDraft("   "))
    assert err.value.field == "name"
    with pytest.raises(Invalid) as err:
        store.create_token(TokenDraft("Portal", "10.0.0.1, 300.1.1.1"))
    assert err.value.field == "allowed_ips" and '"300.1.1.1"' in str(err.value)
    with pytest.raises(Invalid) as err:
        store.create_token(TokenDraft("Portal\x1b[2J", "10.0.0.1"))
    assert err.value.field == "name"
    assert store.list_clients() == [] and store.list_tokens() == []


def test_delete_is_immediate_and_a_second_delete_is_not_found(store):
    client = store.create_client(ClientDraft("Loader")).client
    token = store.create_token(TokenDraft("Portal", "10.0.0.1")).token
    store.delete_client(client.client_id)
    store.delete_token(token.id)
    for call in (
        lambda: store.get_client(client.id),
        lambda: store.delete_client(client.id),
        lambda: store.get_token(token.id),
        lambda: store.delete_token(token.id),
        lambda: store.get_token("not-a-number"),
        lambda: store.get_client("trs_ci_nope"),
    ):
        with pytest.raises(NotFound):
            call()


def test_audit_events_record_each_change_newest_first(store, admin_email):
    client = store.create_client(ClientDraft("Loader")).client
    store.update_client(client.id, ClientDraft("Loader 2"), client.version)
    store.delete_client(client.id)
    events = store.audit_events()
    assert [(e.action, e.credential_name, e.actor) for e in events[:3]] == [
        ("delete", "Loader 2", admin_email),
        ("update", "Loader 2", admin_email),
        ("create", "Loader", admin_email),
    ]
    assert len(store.audit_events(limit=1)) == 1
    with pytest.raises(Invalid) as err:
        store.audit_events(limit=0)
    assert err.value.field == "limit"


def test_audit_events_page_back_by_event_id_and_narrow_to_one_credential(store):
    billing = store.create_client(ClientDraft("Billing sync")).client
    other = store.create_client(ClientDraft("Other loader")).client
    token = store.create_token(TokenDraft("Kiosk", "10.0.0.1")).token  # the same internal id as a client's
    assert token.id in (billing.id, other.id)
    for n in range(3):
        billing = store.update_client(billing.id, ClientDraft(f"Billing sync {n}"), billing.version)
        token = store.update_token(token.id, TokenDraft(f"Kiosk {n}", "10.0.0.1"), token.version)
    everything = store.audit_events(limit=1000)

    paged, before = [], None
    while page := store.audit_events(limit=3, before=before):
        assert len(page) <= 3
        paged += page
        before = page[-1].id
    assert paged == everything  # every event once, newest first, across the pages
    assert [e.id for e in paged] == sorted((e.id for e in paged), reverse=True)

    history = store.audit_events(credential_type="api_client", credential_id=billing.id)
    assert [(e.action, e.credential_name) for e in history] == [
        ("update", "Billing sync 2"), ("update", "Billing sync 1"), ("update", "Billing sync 0"), ("create", "Billing sync"),
    ]
    older = store.audit_events(limit=2, before=history[1].id, credential_type="api_client", credential_id=billing.id)
    assert older == history[2:4]
    tokens = store.audit_events(credential_type="restricted_token", credential_id=token.id)
    assert [e.credential_name for e in tokens] == ["Kiosk 2", "Kiosk 1", "Kiosk 0", "Kiosk"]
    assert {e.credential_type for e in store.audit_events(credential_type="api_client")} == {"api_client"}
    assert store.audit_events(credential_type="api_client", credential_id=999_999) == []


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"before": 0}, "before"),
        ({"before": 2**31}, "before"),
        ({"credential_type": "apiclient"}, "credential_type"),
        ({"credential_type": "api_client", "credential_id": -1}, "credential_id"),
        ({"credential_id": 3}, "credential_id"),  # ids are counted per type: a type is needed
        ({"limit": 1001}, "limit"),
    ],
)
def test_a_page_or_filter_no_listing_can_have_is_invalid_naming_the_field_and_value(store, asked, field):
    with pytest.raises(Invalid) as err:
        store.audit_events(**asked)
    assert err.value.field == field
    assert str(asked[field]) in str(err.value)


def test_a_filter_never_reaches_another_organizations_events(store, store_for, db):
    mine = store.create_client(ClientDraft("Mine")).client
    store.update_client(mine.id, ClientDraft("Mine renamed"), mine.version)
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = store_for("boss@rival.example")
    assert rival.audit_events(credential_type="api_client", credential_id=mine.id) == []
    assert all(e.credential_name not in ("Mine", "Mine renamed") for e in rival.audit_events(limit=1000))
    newest = store.audit_events(limit=1)[0]
    assert all(e.credential_name not in ("Mine", "Mine renamed")
               for e in rival.audit_events(before=newest.id + 1, limit=1000))


@pytest.mark.parametrize(
    ("role", "permission", "clients", "tokens"),
    [
        ("member", False, False, False),  # read-only: banner and tables only
        ("member", True, False, True),  # tokens need only the permission
        ("developer", True, True, True),
        ("developer", False, False, False),
    ],
)
def test_policy_is_the_same_whoever_enforces_it(store, store_for, role, permission, clients, tokens):
    existing = store.create_client(ClientDraft("Existing")).client
    existing_token = store.create_token(TokenDraft("Existing", "10.0.0.1")).token
    store.add_member(f"{role}.{permission}@example.com", role, permission)
    member = store_for(f"{role}.{permission}@example.com")

    assert [c.name for c in member.list_clients()] == ["Existing"]
    assert [t.name for t in member.list_tokens()] == ["Existing"]
    me = member.me()
    assert (me.can_manage_clients, me.can_manage_tokens) == (clients, tokens)

    actions = {
        "create client": (clients, lambda: member.create_client(ClientDraft("Mine"))),
        "update client": (clients, lambda: member.update_client(existing.id, ClientDraft("Renamed"), existing.version)),
        "delete client": (clients, lambda: member.delete_client(existing.id)),
        "create token": (tokens, lambda: member.create_token(TokenDraft("Mine", "10.0.0.1"))),
        "update token": (
            tokens,
            lambda: member.update_token(existing_token.id, TokenDraft("Renamed", "10.0.0.1"), existing_token.version),
        ),
        "delete token": (tokens, lambda: member.delete_token(existing_token.id)),
    }
    for name, (allowed, action) in actions.items():
        if allowed:
            action()
        else:
            with pytest.raises(PermissionDenied):
                action()
            assert name  # a refused change changes nothing (checked below)
    if not clients:
        assert store.get_client(existing.id) == existing
    if not tokens:
        assert store.get_token(existing_token.id) == existing_token


def test_only_admins_add_members_and_an_address_is_taken_once(store, store_for):
    added = store.add_member("dev@example.com", "developer", True, "Dev")
    assert added.email == "dev@example.com" and added.role == "developer" and added.display_name == "Dev"
    assert "dev@example.com" in [m.email for m in store.list_members()]
    with pytest.raises(Conflict):
        store.add_member("dev@example.com", "member", False)
    with pytest.raises(PermissionDenied):
        store_for("dev@example.com").add_member("other@example.com", "admin", True)
    with pytest.raises(Invalid) as err:
        store.add_member("not an address", "member", False)
    assert err.value.field == "email"


def test_another_organizations_credentials_are_not_found(store, store_for, db):
    mine = store.create_client(ClientDraft("Mine")).client
    my_token = store.create_token(TokenDraft("Mine", "10.0.0.1")).token
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = store_for("boss@rival.example")

    assert rival.list_clients() == [] and rival.list_tokens() == []
    for call in (
        lambda: rival.get_client(mine.id),
        lambda: rival.get_client(mine.client_id),
        lambda: rival.update_client(mine.id, ClientDraft("Hijacked"), mine.version),
        lambda: rival.delete_client(mine.client_id),
        lambda: rival.get_token(my_token.id),
        lambda: rival.delete_token(my_token.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert store.get_client(mine.id) == mine
    assert all(e.credential_name != "Hijacked" for e in rival.audit_events())


def test_a_plan_without_api_access_sees_nothing(store, admin):
    admin.set_api_access(False)
    assert not store.me().can_view
    with pytest.raises(PermissionDenied):
        store.list_clients()
    with pytest.raises(PermissionDenied):
        store.create_token(TokenDraft("Portal", "10.0.0.1"))


def test_admins_change_a_members_role_and_permission(store, store_for):
    dev = store.add_member("dev@example.com", "developer", False)
    promoted = store.update_member("dev@example.com", "admin", True)
    assert (promoted.id, promoted.role, promoted.can_manage_credentials) == (dev.id, "admin", True)
    assert store_for("dev@example.com").me().member == promoted  # effective on the next call
    kept = store.update_member(dev.id, can_manage_credentials=False)
    assert (kept.role, kept.can_manage_credentials) == ("admin", False)
    assert [m for m in store.list_members() if m.id == dev.id] == [kept]
    with pytest.raises(Invalid):
        store.update_member(dev.id, "not a role")
    with pytest.raises(NotFound):
        store.update_member("nobody@example.com", "admin")


def test_only_admins_with_the_permission_change_or_remove_members(store, store_for, admin_email):
    store.add_member("dev@example.com", "developer", True)
    store.add_member("lead@example.com", "admin", False)
    for who in ("dev@example.com", "lead@example.com"):
        member = store_for(who)
        with pytest.raises(PermissionDenied) as err:
            member.update_member(admin_email, "member")
        assert "Admin role and the credential permission" in str(err.value)
        with pytest.raises(PermissionDenied):
            member.remove_member(admin_email)
    assert store.me().member.role == "admin"


def test_removing_a_member_ends_their_access_at_once(store, store_for):
    store.add_member("dev@example.com", "developer", True)
    dev = store_for("dev@example.com")
    assert dev.me().member.email == "dev@example.com"
    store.remove_member("dev@example.com")
    assert "dev@example.com" not in [m.email for m in store.list_members()]
    with pytest.raises((NotFound, PermissionDenied)):  # local: no such membership; remote: token revoked (401)
        dev.me()
    with pytest.raises(NotFound):
        store.remove_member("dev@example.com")


def test_the_last_admin_who_can_manage_members_stays(store, admin_email):
    for change in (
        lambda: store.remove_member(admin_email),
        lambda: store.update_member(admin_email, "developer"),
        lambda: store.update_member(admin_email, can_manage_credentials=False),
    ):
        with pytest.raises(Conflict) as err:
            change()
        assert "without an admin who can manage members" in str(err.value)
    assert store.me().member.role == "admin" and store.me().member.can_manage_credentials
    store.add_member("second@example.com", "admin", False)  # an admin without the permission does not count
    with pytest.raises(Conflict):
        store.update_member(admin_email, "developer")
    store.update_member("second@example.com", can_manage_credentials=True)
    assert store.update_member(admin_email, "developer").role == "developer"


def test_an_address_of_another_organization_is_added_as_any_new_one(store, store_for, db, admin_email):
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = store_for("boss@rival.example")
    rival.add_member("shared@example.com", "member", False)

    added = store.add_member("boss@rival.example", "developer", True)  # no 409: nothing said about Rival
    shared = store.add_member("shared@example.com", "member", False)
    assert added.organization_id == shared.organization_id == store.me().organization.id
    with pytest.raises(Conflict) as err:
        store.add_member("shared@example.com", "member", False)
    assert "Rival" not in str(err.value)
    assert {m.email for m in store.list_members()} == {admin_email, "boss@rival.example", "shared@example.com"}
    assert {m.email for m in rival.list_members()} == {"boss@rival.example", "shared@example.com"}
    with pytest.raises(NotFound):  # one organization cannot reach the other's member of the same address
        rival.remove_member(added.id)
    rival.remove_member("shared@example.com")
    assert "shared@example.com" in {m.email for m in store.list_members()}


def test_member_changes_are_audited_without_secrets(store, admin_email):
    dev = store.add_member("dev@example.com", "developer", False)
    store.update_member(dev.id, "admin", True)
    store.remove_member(dev.id)
    events = [e for e in store.audit_events() if e.credential_type == "member"]
    assert [(e.action, e.credential_id, e.credential_name, e.actor) for e in events] == [
        ("remove", dev.id, "dev@example.com", admin_email),
        ("set_role", dev.id, "dev@example.com", admin_email),
        ("add", dev.id, "dev@example.com", admin_email),
    ]
    assert "developer" in events[1].detail and "admin" in events[1].detail
    assert all("trs_" not in e.detail for e in events)
