"""A rolled secret at the token endpoint and a rolled token at the protected API, over its overlap;
expired credentials refused everywhere; when and from where a credential was last used."""

from __future__ import annotations

import time

import pytest

from tests.server_support import bearer, in_process, new_client, new_token
from tests.support.clock import install_clock
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.schema import api_clients

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


@pytest.fixture
def service(db):
    with in_process(db, peer="203.0.113.7") as client:
        yield client


def token_status(service, client_id: str, secret: str) -> int:
    return service.post("/oauth/token", data=GRANT, auth=(client_id, secret)).status_code


def test_the_old_secret_gets_tokens_until_the_overlap_ends_and_the_new_one_from_the_start(service, admin, clock):
    created = new_client(admin)
    client_id = created.client.client_id
    rolled = admin.roll_client(client_id, "1h")

    assert token_status(service, client_id, rolled.secret) == 200
    assert token_status(service, client_id, created.secret) == 200
    clock.advance(minutes=59)
    assert token_status(service, client_id, created.secret) == 200
    clock.advance(minutes=1)
    response = service.post("/oauth/token", data=GRANT, auth=(client_id, created.secret))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert token_status(service, client_id, rolled.secret) == 200


def test_end_old_and_a_zero_overlap_take_effect_on_the_next_request(service, admin, clock):
    created = new_client(admin)
    client_id = created.client.client_id
    rolled = admin.roll_client(client_id, "1h")
    admin.end_old_client(client_id)
    assert token_status(service, client_id, created.secret) == 401
    again = admin.roll_client(client_id, 0)
    assert token_status(service, client_id, rolled.secret) == 401
    assert token_status(service, client_id, again.secret) == 200


def test_a_rolled_restricted_token_works_both_ways_until_the_overlap_ends(service, admin, clock):
    created = new_token(admin, ips="203.0.113.0/24")
    rolled = admin.roll_token(created.token.id, "30m")
    for value in (rolled.value, created.value):
        assert service.get("/v1/whoami", headers=bearer(value)).status_code == 200
    clock.advance(minutes=30)
    assert service.get("/v1/whoami", headers=bearer(created.value)).status_code == 401
    assert service.get("/v1/whoami", headers=bearer(rolled.value)).status_code == 200


def test_the_roll_endpoint_shows_the_new_value_once_and_refuses_a_bad_overlap(db, admin):
    from turris_api.store.operator import issue_member_token

    created = new_client(admin)
    member = issue_member_token(db, admin.me().member.email)
    with in_process(db) as service:
        path = f"/v1/api-clients/{created.client.client_id}/roll"
        response = service.post(path, json={"keep_old_for_seconds": 600}, headers=bearer(member))
        assert response.status_code == 201 and response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["client_secret"].endswith(body["secret_last4"])
        assert body["old_secret_last4"] == created.client.secret_last4
        refused = service.post(path, json={"keep_old_for_seconds": 10**8}, headers=bearer(member))
        assert refused.status_code == 422 and "Keep old for" in refused.json()["message"]
        shown = service.get(f"/v1/api-clients/{created.client.id}", headers=bearer(member)).json()
        assert "client_secret" not in shown and shown["old_secret_expires_at"]


def test_an_expired_client_is_refused_like_a_deleted_one(service, admin, clock):
    created = admin.create_client(ClientDraft("Loader", expires="1h"))
    client_id = created.client.client_id
    jwt = service.post("/oauth/token", data=GRANT, auth=(client_id, created.secret)).json()["access_token"]
    assert service.get("/v1/whoami", headers=bearer(jwt)).status_code == 200
    clock.advance(hours=1)
    response = service.post("/oauth/token", data=GRANT, auth=(client_id, created.secret))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert service.get("/v1/whoami", headers=bearer(jwt)).status_code == 401
    assert [c.client_id for c in admin.list_clients()] == [client_id]  # still listed


def test_an_expired_restricted_token_is_refused(service, admin, clock):
    created = admin.create_token(TokenDraft("Portal", "203.0.113.7", expires="1d"))
    assert service.get("/v1/whoami", headers=bearer(created.value)).status_code == 200
    clock.advance(days=1)
    assert service.get("/v1/whoami", headers=bearer(created.value)).status_code == 401


def written_back(service) -> None:
    """What the service's write-back does within a second, now."""
    service.app.state.service.verifier.uses.flush()


def test_last_used_is_set_by_a_successful_use_once_a_minute_with_the_address(service, admin, clock):
    created = new_client(admin)
    token = new_token(admin, ips="203.0.113.7")
    assert admin.get_client(created.client.id).last_used_at is None
    assert token_status(service, created.client.client_id, created.secret) == 200
    written_back(service)
    assert admin.get_client(created.client.id).last_used_at == clock.now

    assert service.get("/v1/whoami", headers=bearer(token.value)).status_code == 200
    written_back(service)
    used = admin.get_token(token.token.id)
    assert (used.last_used_at, used.last_used_ip) == (clock.now, "203.0.113.7")
    first = clock.now
    clock.advance(seconds=30)
    service.get("/v1/whoami", headers=bearer(token.value))
    written_back(service)
    assert admin.get_token(token.token.id).last_used_at == first  # at most once a minute


def test_use_is_written_back_within_seconds_without_being_asked(service, admin):
    created = new_client(admin)
    assert token_status(service, created.client.client_id, created.secret) == 200
    deadline = time.monotonic() + 5
    while admin.get_client(created.client.id).last_used_at is None:
        assert time.monotonic() < deadline, "last_used_at was not written back within 5 s"
        time.sleep(0.05)


def test_a_token_request_does_not_wait_for_the_store_to_take_a_write(service, admin, db):
    """While another writer holds the store, a token is still issued: its bookkeeping waits, not it."""
    created = new_client(admin)
    with db.write() as conn:  # the write turn (and, on SQLite, the file's write lock) held by someone else
        conn.execute(api_clients.update().where(api_clients.c.id == created.client.id).values(name="Held"))
        started = time.monotonic()
        assert token_status(service, created.client.client_id, created.secret) == 200
        assert time.monotonic() - started < 2
    written_back(service)
    assert admin.get_client(created.client.id).last_used_at is not None


def test_a_refused_address_is_not_recorded_as_a_use(service, admin):
    token = new_token(admin, ips="10.0.0.1")
    assert service.get("/v1/whoami", headers=bearer(token.value)).status_code == 403
    assert admin.get_token(token.token.id).last_used_at is None
