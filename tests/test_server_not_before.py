"""Not-before: a status change or the plan losing API access retires every JWT issued before it."""

from __future__ import annotations

import pytest

from tests.server_support import bearer, fetch_jwt, in_process, new_client


@pytest.fixture
def service(db):
    with in_process(db) as client:
        yield client


def whoami(service, jwt: str) -> int:
    return service.get("/v1/whoami", headers=bearer(jwt)).status_code


def forward(service, jwt: str) -> int:
    headers = bearer(jwt, **{"X-Original-Method": "GET", "X-Original-URI": "/v1/anything"})
    return service.get("/auth/forward", headers=headers).status_code


def test_disable_then_enable_keeps_the_old_jwt_refused(service, admin):
    created = new_client(admin)
    old = fetch_jwt(service, created)
    assert whoami(service, old) == 200
    admin.set_client_status(created.client.id, "disabled")
    assert whoami(service, old) == 401
    admin.set_client_status(created.client.id, "active")
    assert whoami(service, old) == 401
    assert forward(service, old) == 401
    new = fetch_jwt(service, created)  # within the same second: still accepted
    assert whoami(service, new) == 200
    assert forward(service, new) == 200


def test_plan_off_then_on_keeps_the_old_jwt_refused(service, admin):
    created = new_client(admin)
    old = fetch_jwt(service, created)
    admin.set_api_access(False)
    assert whoami(service, old) == 401
    admin.set_api_access(True)
    assert whoami(service, old) == 401
    assert whoami(service, fetch_jwt(service, created)) == 200


def test_the_refusal_says_why_without_the_token(service, admin):
    created = new_client(admin)
    old = fetch_jwt(service, created)
    admin.set_client_status(created.client.id, "disabled")
    admin.set_client_status(created.client.id, "active")
    response = service.get("/v1/whoami", headers=bearer(old))
    assert "status change" in response.json()["message"]
    assert old not in response.text and old.split(".")[1] not in response.text


def test_introspection_calls_a_jwt_before_not_before_inactive(service, admin):
    created, gateway = new_client(admin), new_client(admin, name="Gateway")
    old = fetch_jwt(service, created)
    admin.set_client_status(created.client.id, "disabled")
    admin.set_client_status(created.client.id, "active")
    answer = service.post("/oauth/introspect", data={"token": old}, auth=(gateway.client.client_id, gateway.secret))
    assert answer.json() == {"active": False}
    new = fetch_jwt(service, created)
    answer = service.post("/oauth/introspect", data={"token": new}, auth=(gateway.client.client_id, gateway.secret))
    assert answer.json()["active"] is True
