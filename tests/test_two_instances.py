"""Two `turris-api serve` processes on one PostgreSQL database, as behind a load balancer.

What one instance issues, the other accepts; what one changes (delete, disable, allowed IPs,
allowed origins), the other enforces on the very next request; 50 concurrent management
operations spread over both lose nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tests.support.pg import throwaway_database
from tests.support.service import ISSUER, ServiceProcess, services
from turris_api.store.database import Database
from turris_api.store.local import API_CLIENT, RESTRICTED_TOKEN, LocalStore
from turris_api.store.models import ClientDraft, TokenDraft
from turris_api.store.operator import bootstrap, issue_member_token

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
AUDIENCE = "turris-api"
BALANCER = "127.0.0.1/32"


@dataclass
class Deployment:
    db: Database
    admin: LocalStore
    member_token: str
    a: ServiceProcess
    b: ServiceProcess

    def manage(self, instance: ServiceProcess, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.member_token}"}
        return httpx.request(method, f"{instance.url}{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def deployment(postgres_server_url):
    if postgres_server_url is None:
        pytest.skip("the two-instance tests need PostgreSQL ($TURRIS_TEST_DATABASE_URL); .ci/run sets it")
    with throwaway_database(postgres_server_url) as url:
        db = Database(url)
        bootstrap(db)
        admin = LocalStore(db)
        member_token = issue_member_token(db, admin.me().member.email)
        # 127.0.0.1 stands for the load balancer: only its X-Forwarded-For is believed.
        with services(url, 2, "--trusted-proxy", BALANCER) as (a, b):
            yield Deployment(db, admin, member_token, a, b)
        db.dispose()


def jwt_from(instance: ServiceProcess, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{instance.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
    )


def whoami(instance: ServiceProcess, token: str, client: httpx.Client | None = None, **headers: str) -> httpx.Response:
    return (client or httpx).get(
        f"{instance.url}/v1/whoami", headers={"Authorization": f"Bearer {token}", **headers}, timeout=30
    )


def test_instances_started_together_publish_one_jwks_and_accept_each_others_jwts(deployment):
    a, b = deployment.a, deployment.b
    jwks_a = httpx.get(f"{a.url}/.well-known/jwks.json").json()
    assert jwks_a == httpx.get(f"{b.url}/.well-known/jwks.json").json()
    assert len(jwks_a["keys"]) == 1  # both started on an empty store; one signing key was made

    made = deployment.admin.create_client(ClientDraft(name="Both ways"))
    for issuer, verifier in ((a, b), (b, a)):
        response = jwt_from(issuer, made.client.client_id, made.secret)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        seen = whoami(verifier, token)
        assert seen.status_code == 200, seen.text
        assert seen.json()["client_id"] == made.client.client_id
        # A relying party that only knows the other instance's JWKS verifies it too.
        key = jwt.PyJWKClient(f"{verifier.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
        assert claims["client_id"] == made.client.client_id


def test_a_client_deleted_through_one_is_refused_by_the_other_on_the_next_request(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_client(ClientDraft(name="Retired via A"))
    token = jwt_from(a, made.client.client_id, made.secret).json()["access_token"]
    assert whoami(b, token).status_code == 200

    assert deployment.manage(a, "DELETE", f"/v1/api-clients/{made.client.id}").status_code == 204

    refused = whoami(b, token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert jwt_from(b, made.client.client_id, made.secret).status_code == 401
    assert deployment.manage(b, "GET", f"/v1/api-clients/{made.client.id}").status_code == 404


def test_a_client_disabled_is_refused_by_both_and_its_old_jwts_stay_refused(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_client(ClientDraft(name="Disabled by support"))
    token = jwt_from(a, made.client.client_id, made.secret).json()["access_token"]
    assert whoami(b, token).status_code == 200

    deployment.admin.set_client_status(made.client.id, "disabled")
    assert whoami(a, token).status_code == 401
    assert whoami(b, token).status_code == 401
    assert jwt_from(a, made.client.client_id, made.secret).status_code == 401
    assert jwt_from(b, made.client.client_id, made.secret).status_code == 401

    deployment.admin.set_client_status(made.client.id, "active")
    assert whoami(b, token).status_code == 401  # not-before: re-enabling revives no JWT issued before
    fresh = jwt_from(a, made.client.client_id, made.secret)
    assert fresh.status_code == 200
    assert whoami(b, fresh.json()["access_token"]).status_code == 200


def test_a_restricted_token_deleted_through_one_is_refused_by_the_other(deployment):
    a, b = deployment.a, deployment.b
    created = deployment.manage(b, "POST", "/v1/restricted-tokens", json={"name": "Portal", "allowed_ips": "127.0.0.1"})
    assert created.status_code == 201, created.text
    value, token_id = created.json()["token"], created.json()["id"]
    assert whoami(a, value).status_code == 200  # A now holds a cached verification of it
    assert whoami(a, value).status_code == 200

    assert deployment.manage(b, "DELETE", f"/v1/restricted-tokens/{token_id}").status_code == 204
    assert whoami(a, value).status_code == 401
    assert whoami(b, value).status_code == 401


def test_an_allowed_ip_change_through_one_applies_on_the_other(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_token(TokenDraft(name="Moving office", allowed_ips="127.0.0.1"))
    from_second = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    try:
        assert whoami(b, made.value).status_code == 200
        assert whoami(b, made.value, from_second).status_code == 403

        changed = deployment.manage(
            a,
            "PUT",
            f"/v1/restricted-tokens/{made.token.id}",
            json={"name": "Moving office", "allowed_ips": "127.0.0.2", "version": made.token.version},
        )
        assert changed.status_code == 200, changed.text

        assert whoami(b, made.value, from_second).status_code == 200
        refused = whoami(b, made.value)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
    finally:
        from_second.close()


def test_an_allowed_origin_change_through_one_applies_on_the_other(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_client(ClientDraft(name="Web shop", allowed_origins="https://shop.example"))
    token = jwt_from(a, made.client.client_id, made.secret).json()["access_token"]

    assert whoami(b, token, Origin="https://shop.example").headers["Access-Control-Allow-Origin"] == "https://shop.example"
    refused = whoami(b, token, Origin="https://new-shop.example")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers

    changed = deployment.manage(
        a,
        "PUT",
        f"/v1/api-clients/{made.client.id}",
        json={"name": "Web shop", "allowed_origins": "https://new-shop.example", "version": made.client.version},
    )
    assert changed.status_code == 200, changed.text

    allowed = whoami(b, token, Origin="https://new-shop.example")
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://new-shop.example"
    assert whoami(b, token, Origin="https://shop.example").status_code == 403


def test_behind_the_balancer_ip_rules_see_the_forwarded_client_and_a_spoofed_header_changes_nothing(deployment):
    made = deployment.admin.create_token(TokenDraft(name="Office", allowed_ips="203.0.113.7"))
    for instance in (deployment.a, deployment.b):
        # Through the balancer (peer 127.0.0.1), which appends the client it saw.
        assert whoami(instance, made.value, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200
        assert whoami(instance, made.value, **{"X-Forwarded-For": "198.51.100.9"}).status_code == 403
        # A client claiming an address itself, before the balancer appends the real one.
        spoofed = whoami(instance, made.value, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.9"})
        assert spoofed.status_code == 403
    # Straight to an instance from an address that is not the balancer: the header is ignored.
    direct = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    try:
        refused = whoami(deployment.a, made.value, direct, **{"X-Forwarded-For": "203.0.113.7"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
    finally:
        direct.close()


# --- 50 concurrent management operations over both instances ---------------------------------


@dataclass
class Call:
    kind: str
    path: str
    body: dict | None = None
    target: int | None = None
    status: int = 0
    answer: dict | None = None


def test_fifty_concurrent_management_operations_over_both_instances_lose_nothing(deployment):
    admin = deployment.admin
    seeds = [admin.create_client(ClientDraft(name=f"mgmt-seed-{i}")).client for i in range(5)]
    seed_token = admin.create_token(TokenDraft(name="mgmt-seed-token", allowed_ips="127.0.0.1")).token
    calls: list[Call] = []
    for i in range(20):
        calls.append(Call("create", "/v1/api-clients", {"name": f"mgmt-new-{i}", "description": f"new-{i}"}))
    for i in range(20):  # every edit carries the version of the form opened before anything ran
        seed = seeds[i % 4]
        body = {"name": seed.name, "description": f"mgmt-edit-{i}", "version": seed.version}
        calls.append(Call("update", f"/v1/api-clients/{seed.id}", body, seed.id))
    for i in range(4):
        body = {"name": f"tok-edit-{i}", "allowed_ips": "10.0.0.1", "version": seed_token.version}
        calls.append(Call("update", f"/v1/restricted-tokens/{seed_token.id}", body, seed_token.id))
    for _ in range(3):  # one client deleted three times at once
        calls.append(Call("delete", f"/v1/api-clients/{seeds[4].id}", target=seeds[4].id))
    for i in range(3):
        calls.append(Call("create", "/v1/restricted-tokens", {"name": f"mgmt-tok-{i}", "allowed_ips": "127.0.0.1"}))
    assert len(calls) == 50
    random.Random(50).shuffle(calls)
    methods = {"create": "POST", "update": "PUT", "delete": "DELETE"}

    def run(index_call):
        index, call = index_call
        instance = deployment.a if index % 2 else deployment.b
        response = deployment.manage(instance, methods[call.kind], call.path, json=call.body)
        call.status = response.status_code
        call.answer = response.json() if response.content else None
        return call

    with ThreadPoolExecutor(max_workers=12) as pool:
        done = list(pool.map(run, enumerate(calls), timeout=120))

    statuses = Counter((c.kind, c.status) for c in done)
    assert all(c.status < 500 for c in done), statuses
    assert set(statuses) <= {("create", 201), ("update", 200), ("update", 409), ("delete", 204), ("delete", 404)}, statuses
    assert statuses[("create", 201)] == 23
    assert statuses[("delete", 204)] == 1  # the other two deletes of that client: 404
    for target in {c.target for c in done if c.kind == "update"}:
        applied = [c for c in done if c.kind == "update" and c.target == target and c.status == 200]
        assert len(applied) == 1, f"{len(applied)} edits based on one version applied to {target}"
        refused = [c for c in done if c.kind == "update" and c.target == target and c.status == 409]
        assert all(c.answer["error"] == "conflict" for c in refused)

    listed = admin.list_clients()
    assert len({c.client_id for c in listed}) == len(listed)
    new_ids = {c.answer["id"] for c in done if c.kind == "create" and "client_secret" in c.answer}
    assert new_ids <= {c.id for c in listed}
    for seed in seeds[:4]:
        [edit] = [c for c in done if c.kind == "update" and c.target == seed.id and c.status == 200]
        assert admin.get_client(seed.id).description == edit.body["description"]
    assert admin.get_token(seed_token.id).name == next(
        c.body["name"] for c in done if c.target == seed_token.id and c.status == 200
    )

    involved = new_ids | {s.id for s in seeds}
    token_ids = {c.answer["id"] for c in done if c.kind == "create" and "token" in c.answer} | {seed_token.id}
    events = Counter(
        (e.action, e.credential_type, e.credential_id)
        for e in admin.audit_events(limit=1000)
        if (e.credential_type == API_CLIENT and e.credential_id in involved)
        or (e.credential_type == RESTRICTED_TOKEN and e.credential_id in token_ids)
    )
    expected = Counter(("create", API_CLIENT, i) for i in involved) + Counter(
        ("create", RESTRICTED_TOKEN, i) for i in token_ids
    )
    expected += Counter(("update", API_CLIENT, s.id) for s in seeds[:4])
    expected += Counter({("update", RESTRICTED_TOKEN, seed_token.id): 1, ("delete", API_CLIENT, seeds[4].id): 1})
    assert events == expected


# --- a delete racing token requests ------------------------------------------------------------


def test_once_a_delete_has_committed_no_token_is_issued_and_no_jwt_accepted(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_client(ClientDraft(name="Racing a delete"))
    deleted_at: list[float] = []
    stop = threading.Event()
    issued: list[str] = []
    after_delete: list[tuple[str, int]] = []

    def hammer(instance: ServiceProcess) -> None:
        with httpx.Client(base_url=instance.url, timeout=30) as http:
            for _ in range(300):  # bounded; the delete lands long before
                if stop.is_set():
                    return
                sent = time.monotonic()
                response = http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(made.client.client_id, made.secret),
                )
                if response.status_code == 200:
                    issued.append(response.json()["access_token"])
                if deleted_at and sent > deleted_at[0]:
                    after_delete.append(("token", response.status_code))
                    if len(after_delete) > 20:
                        stop.set()

    threads = [threading.Thread(target=hammer, args=(instance,)) for instance in (a, b, a, b)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(issued) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert deployment.manage(b, "DELETE", f"/v1/api-clients/{made.client.id}").status_code == 204
    deleted_at.append(time.monotonic())
    for thread in threads:
        thread.join(timeout=60)
    stop.set()

    assert after_delete, "no token request was sent after the delete"
    # Refused: invalid_client, or throttled once the failures pile up; never a token.
    assert {status for _, status in after_delete} <= {401, 429}
    assert 401 in {status for _, status in after_delete}
    assert len(issued) >= 8
    for token in set(issued):
        assert whoami(a, token).status_code == 401
        assert whoami(b, token).status_code == 401


def test_a_secret_rolled_through_one_works_both_ways_on_the_other_until_its_old_value_is_ended(deployment):
    a, b = deployment.a, deployment.b
    made = deployment.admin.create_client(ClientDraft(name="Rolled behind the balancer"))
    client_id, old = made.client.client_id, made.secret
    rolled = deployment.manage(a, "POST", f"/v1/api-clients/{made.client.id}/roll", json={"keep_old_for_seconds": 3600})
    assert rolled.status_code == 201, rolled.text
    new = rolled.json()["client_secret"]
    assert rolled.json()["client_id"] == client_id and new != old
    for instance in (a, b):  # the overlap: both values get tokens everywhere
        assert jwt_from(instance, client_id, old).status_code == 200
        assert jwt_from(instance, client_id, new).status_code == 200

    assert deployment.manage(b, "POST", f"/v1/api-clients/{made.client.id}/end-old").status_code == 200
    for instance in (a, b):
        assert jwt_from(instance, client_id, old).status_code == 401
        assert jwt_from(instance, client_id, new).status_code == 200


def test_a_token_rolled_through_one_is_accepted_both_ways_by_the_other_until_its_old_value_is_ended(deployment):
    a, b = deployment.a, deployment.b
    created = deployment.manage(a, "POST", "/v1/restricted-tokens", json={"name": "Rolled portal", "allowed_ips": "127.0.0.1"})
    old, token_id = created.json()["token"], created.json()["id"]
    assert whoami(b, old).status_code == 200  # B now holds a cached verification of the old value
    rolled = deployment.manage(a, "POST", f"/v1/restricted-tokens/{token_id}/roll", json={"keep_old_for_seconds": 3600})
    assert rolled.status_code == 201, rolled.text
    new = rolled.json()["token"]
    for instance in (a, b):
        assert whoami(instance, old).status_code == 200
        assert whoami(instance, new).status_code == 200

    assert deployment.manage(a, "POST", f"/v1/restricted-tokens/{token_id}/end-old").status_code == 200
    for instance in (a, b):  # on the very next request, cached or not
        assert whoami(instance, old).status_code == 401
        assert whoami(instance, new).status_code == 200
