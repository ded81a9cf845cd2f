"""The management API over HTTP: who may do what, and what every refusal looks like on the wire."""

from __future__ import annotations

import logging
import secrets

import pytest
from fastapi import Request

from tests.server_support import TestClient, bearer, fetch_jwt, new_client
from turris_api.server.api import create_app
from turris_api.store.operator import create_organization, issue_member_token


@pytest.fixture
def app(db):
    return create_app(db)


@pytest.fixture
def http(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def as_admin(db, admin) -> dict[str, str]:
    return bearer(issue_member_token(db, admin.me().member.email))


def member_headers(db, admin, email: str, role: str, permission: bool) -> dict[str, str]:
    admin.add_member(email, role, permission)
    return bearer(issue_member_token(db, email))


def test_without_a_member_token_every_route_is_401_with_a_bearer_challenge(http):
    for method, path in [
        ("GET", "/v1/me"),
        ("GET", "/v1/api-clients"),
        ("POST", "/v1/api-clients"),
        ("GET", "/v1/api-clients/1"),
        ("PUT", "/v1/api-clients/1"),
        ("DELETE", "/v1/api-clients/1"),
        ("GET", "/v1/restricted-tokens"),
        ("DELETE", "/v1/restricted-tokens/1"),
        ("GET", "/v1/audit-events"),
        ("GET", "/v1/members"),
    ]:
        response = http.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error", "message"}


def test_an_api_client_jwt_or_a_made_up_token_is_not_a_member_token(http, admin):
    jwt_token = fetch_jwt(http, new_client(admin))
    for token in (jwt_token, "trs_mat_0123456789abcdef_" + "x" * 43, "x" * 20_000):
        response = http.get("/v1/api-clients", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_me_reports_member_role_permission_and_plan(http, as_admin, admin):
    body = http.get("/v1/me", headers=as_admin).json()
    me = admin.me()
    assert body["member"]["email"] == me.member.email
    assert body["member"]["role"] == "admin"
    assert body["organization"] == {"id": me.organization.id, "name": me.organization.name, "api_access": True,
                                    "max_lifetime_days": None}
    assert body["can_manage_clients"] and body["can_manage_tokens"] and body["sees_credential_controls"]


def test_the_secret_is_in_the_create_answer_only(http, as_admin):
    response = http.post("/v1/api-clients", headers=as_admin, json={"name": "Loader", "allowed_origins": []})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    secret, client_id = created.pop("client_secret"), created["client_id"]
    assert created == http.get(f"/v1/api-clients/{client_id}", headers=as_admin).json()  # the same shape, less the secret
    for path in ("/v1/api-clients", f"/v1/api-clients/{client_id}", "/v1/audit-events"):
        listing = http.get(path, headers=as_admin)
        assert listing.status_code == 200
        assert secret not in listing.text
        assert secret[-4:] in listing.text or path == "/v1/audit-events"


def test_read_only_member_cannot_create_or_delete_over_the_api(db, admin, http, as_admin):
    existing = http.post("/v1/api-clients", headers=as_admin, json={"name": "Existing"}).json()
    token = http.post("/v1/restricted-tokens", headers=as_admin, json={"name": "T", "allowed_ips": "10.0.0.1"}).json()
    reader = member_headers(db, admin, "reader@example.com", "member", False)

    assert http.get("/v1/api-clients", headers=reader).status_code == 200
    for method, path, body in [
        ("POST", "/v1/api-clients", {"name": "Mine"}),
        ("PUT", f"/v1/api-clients/{existing['id']}", {"name": "Renamed", "version": existing["version"]}),
        ("DELETE", f"/v1/api-clients/{existing['id']}", None),
        ("POST", "/v1/restricted-tokens", {"name": "Mine", "allowed_ips": "10.0.0.1"}),
        ("DELETE", f"/v1/restricted-tokens/{token['id']}", None),
        ("POST", "/v1/members", {"email": "x@example.com", "role": "admin", "can_manage_credentials": True}),
    ]:
        response = http.request(method, path, headers=reader, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == "permission_denied"
        assert "reader@example.com" in response.json()["message"]
    assert [c["name"] for c in http.get("/v1/api-clients", headers=as_admin).json()] == ["Existing"]
    assert len(http.get("/v1/restricted-tokens", headers=as_admin).json()) == 1


def test_member_with_the_permission_manages_tokens_but_not_clients(db, admin, http):
    member = member_headers(db, admin, "ops@example.com", "member", True)
    assert http.post("/v1/restricted-tokens", headers=member, json={"name": "T", "allowed_ips": ["10.0.0.1"]}).status_code == 201
    refused = http.post("/v1/api-clients", headers=member, json={"name": "C"})
    assert refused.status_code == 403
    assert "Admin or Developer" in refused.json()["message"]


def test_member_of_another_organization_gets_not_found(db, admin, http, as_admin):
    mine = http.post("/v1/api-clients", headers=as_admin, json={"name": "Mine"}).json()
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = bearer(issue_member_token(db, "boss@rival.example"))
    assert http.get("/v1/api-clients", headers=rival).json() == []
    for method, path, body in [
        ("GET", f"/v1/api-clients/{mine['id']}", None),
        ("GET", f"/v1/api-clients/{mine['client_id']}", None),
        ("PUT", f"/v1/api-clients/{mine['id']}", {"name": "Hijacked", "version": mine["version"]}),
        ("DELETE", f"/v1/api-clients/{mine['client_id']}", None),
    ]:
        response = http.request(method, path, headers=rival, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "not_found"
    assert http.get(f"/v1/api-clients/{mine['id']}", headers=as_admin).json()["name"] == "Mine"


def test_a_stale_version_is_409_and_changes_nothing(http, as_admin):
    client = http.post("/v1/api-clients", headers=as_admin, json={"name": "Loader"}).json()
    path = f"/v1/api-clients/{client['id']}"
    first = http.put(path, headers=as_admin, json={"name": "Loader A", "version": client["version"]})
    second = http.put(path, headers=as_admin, json={"name": "Loader B", "version": client["version"]})
    assert first.status_code == 200 and first.json()["version"] == client["version"] + 1
    assert second.status_code == 409
    assert second.json()["error"] == "conflict"
    assert http.get(path, headers=as_admin).json()["name"] == "Loader A"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "ok", "allowed_origins": "https://ok.example, ftp://nope"}, "allowed_origins"),
        ({"name": "evil\u202etxt"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": 42}, "name"),
        ({"name": "ok", "allowed_origins": [1, 2]}, "allowed_origins"),
    ],
    ids=["empty", "bad-origin", "bidi", "too-long", "missing", "wrong-type", "wrong-item-type"],
)
def test_bad_input_is_422_naming_the_field(http, as_admin, body, field):
    response = http.post("/v1/api-clients", headers=as_admin, json=body)
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid"
    assert answer["field"].split(".")[0] == field
    assert answer["message"]
    assert http.get("/v1/api-clients", headers=as_admin).json() == []


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("before=0", "before", '"0"'),
        ("before=last", "before", '"last"'),
        ("before=99999999999", "before", '"99999999999"'),
        ("credential_type=apiclient", "credential_type", '"apiclient"'),
        ("credential_type=api_client&credential_id=-3", "credential_id", '"-3"'),
        ("credential_id=3", "credential_id", "needs a credential_type"),
        ("limit=5000", "limit", '"5000"'),
    ],
)
def test_a_bad_audit_page_or_filter_is_422_naming_the_field_and_the_value(http, as_admin, query, field, says):
    response = http.get(f"/v1/audit-events?{query}", headers=as_admin)
    assert response.status_code == 422
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("invalid", field)
    assert field in answer["message"] or field.replace("_", " ").capitalize() in answer["message"]
    assert says in answer["message"]
    assert http.get(f"/v1/audit-events?{query}").status_code == 401  # who is asking comes first


def test_the_audit_events_of_one_credential_page_back_and_stay_in_their_organization(db, http, as_admin):
    billing = http.post("/v1/api-clients", headers=as_admin, json={"name": "Billing sync"}).json()
    http.post("/v1/api-clients", headers=as_admin, json={"name": "Other"})
    for n in range(4):
        http.put(f"/v1/api-clients/{billing['id']}", headers=as_admin, json={"name": f"Billing {n}", "version": n + 1})
    about = f"credential_type=api_client&credential_id={billing['id']}"
    first = http.get(f"/v1/audit-events?{about}&limit=3", headers=as_admin).json()
    rest = http.get(f"/v1/audit-events?{about}&limit=3&before={first[-1]['id']}", headers=as_admin).json()
    assert [e["credential_name"] for e in first + rest] == ["Billing 3", "Billing 2", "Billing 1", "Billing 0",
                                                           "Billing sync"]
    assert {e["credential_id"] for e in first + rest} == {billing["id"]}

    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = bearer(issue_member_token(db, "boss@rival.example"))
    assert http.get(f"/v1/audit-events?{about}", headers=rival).json() == []
    seen = http.get("/v1/audit-events?limit=1000&before=2147483647", headers=rival).json()
    assert seen and not [e for e in seen if e["credential_type"] == "api_client"]


def test_a_body_that_is_not_json_is_422_not_500(http, as_admin):
    response = http.post(
        "/v1/api-clients", headers={**as_admin, "Content-Type": "application/json"}, content=b"{not json\xff"
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"


@pytest.mark.parametrize("ref", ["99999999999999999999999", "²", "١٢", "%00", "%1b%5b2J", "a" * 200])
def test_odd_references_are_not_found_never_a_500(http, as_admin, ref):
    for path in (f"/v1/api-clients/{ref}", f"/v1/restricted-tokens/{ref}"):
        response = http.get(path, headers=as_admin)
        assert response.status_code in (404, 422), (path, response.text)
        assert response.json()["error"] in ("not_found", "invalid")


def test_huge_bodies_are_413(http, as_admin):
    response = http.post("/v1/api-clients", headers=as_admin, json={"name": "x", "description": "y" * 100_000})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_unknown_routes_and_methods_answer_json(http, as_admin):
    missing = http.get("/v1/nothing-here", headers=as_admin)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = http.patch("/v1/api-clients", headers=as_admin)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_an_unexpected_error_is_a_plain_500_with_nothing_leaked(app, caplog):
    secret = secrets.token_hex(8)

    @app.get("/test-only/explode")
    def explode(request: Request) -> None:
        raise RuntimeError(f"password={secret} leaked into an exception message")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/test-only/explode")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "The service hit an unexpected error; it has been logged. Try again later.",
    }
    assert secret not in caplog.text and secret not in response.text
    assert "RuntimeError" in caplog.text  # the operator still learns what and where


def test_docs_openapi_and_discovery(http):
    assert http.get("/docs").status_code == 200
    schema = http.get("/openapi.json").json()
    for path in ("/oauth/token", "/v1/whoami", "/v1/organization", "/v1/api-clients", "/v1/restricted-tokens/{ref}",
                 "/v1/me", "/v1/audit-events"):
        assert path in schema["paths"], path
    token = schema["paths"]["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert {"400", "401", "429"} <= set(token["responses"])
    assert "HTTPValidationError" not in str(schema)  # every 422 is the service's own error shape
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert metadata["jwks_uri"].endswith("/.well-known/jwks.json")


def test_an_expired_member_token_is_refused(db, admin, http, monkeypatch):
    from datetime import timedelta

    from turris_api.store import verify

    short = bearer(issue_member_token(db, admin.me().member.email, "1d"))
    default = bearer(issue_member_token(db, admin.me().member.email))
    assert http.get("/v1/me", headers=short).status_code == 200
    later = verify.utcnow() + timedelta(days=2)
    monkeypatch.setattr(verify, "utcnow", lambda: later)
    refused = http.get("/v1/me", headers=short)
    assert refused.status_code == 401 and "expired" in refused.json()["message"]
    assert http.get("/v1/me", headers=default).status_code == 200  # 90 days by default
    much_later = later + timedelta(days=89)
    monkeypatch.setattr(verify, "utcnow", lambda: much_later)
    assert http.get("/v1/me", headers=default).status_code == 401


def test_a_revoked_member_token_is_refused_on_its_next_request(db, admin, http):
    from turris_api.store.operator import list_member_tokens, revoke_member_token

    token = issue_member_token(db, admin.me().member.email)
    assert http.get("/v1/api-clients", headers=bearer(token)).status_code == 200
    [listed] = list_member_tokens(db)
    assert listed.token_last4 == token[-4:] and token not in repr(listed)
    revoke_member_token(db, listed.id)
    assert http.get("/v1/api-clients", headers=bearer(token)).status_code == 401


def test_a_revoked_member_token_stops_a_remote_store(db, admin, http):
    from turris_api.store.errors import PermissionDenied
    from turris_api.store.operator import new_member_token, revoke_member_token
    from turris_api.store.remote import RemoteStore

    created = new_member_token(db, admin.me().member.email)
    remote = RemoteStore("http://testserver", created.value, client=http)
    assert remote.me().member.email == admin.me().member.email
    revoke_member_token(db, created.token.id)
    with pytest.raises(PermissionDenied) as err:
        remote.me()
    assert created.value not in str(err.value)


def test_members_are_changed_and_removed_over_the_api(db, admin, http, as_admin):
    added = http.post("/v1/members", headers=as_admin, json={"email": "dev@example.com", "role": "developer",
                                                               "can_manage_credentials": False})
    assert added.status_code == 201
    dev_token = bearer(issue_member_token(db, "dev@example.com"))
    changed = http.patch("/v1/members/dev@example.com", headers=as_admin, json={"can_manage_credentials": True})
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["can_manage_credentials"]) == ("developer", True)
    assert http.get("/v1/me", headers=dev_token).json()["can_manage_clients"] is True
    me = admin.me().member
    last = http.patch(f"/v1/members/{me.id}", headers=as_admin, json={"role": "developer"})
    assert last.status_code == 409 and "without an admin" in last.json()["message"]
    assert http.delete(f"/v1/members/{me.email}", headers=as_admin).status_code == 409
    assert http.delete("/v1/members/dev@example.com", headers=dev_token).status_code == 403
    assert http.delete(f"/v1/members/{added.json()['id']}", headers=as_admin).status_code == 204
    assert http.get("/v1/me", headers=dev_token).status_code == 401  # their tokens went with them
    assert http.delete("/v1/members/dev@example.com", headers=as_admin).status_code == 404


def test_adding_another_organizations_member_says_nothing_about_it(db, admin, http, as_admin):
    create_organization(db, "Rival Inc", "boss@rival.example")
    rival = bearer(issue_member_token(db, "boss@rival.example"))
    body = {"email": "boss@rival.example", "role": "member", "can_manage_credentials": False}
    assert http.post("/v1/members", headers=as_admin, json=body).status_code == 201
    again = http.post("/v1/members", headers=as_admin, json=body)
    assert again.status_code == 409 and "Rival" not in again.text
    ours = {m["email"] for m in http.get("/v1/members", headers=as_admin).json()}
    assert ours == {admin.me().member.email, "boss@rival.example"}
    assert [m["email"] for m in http.get("/v1/members", headers=rival).json()] == ["boss@rival.example"]
    assert http.get("/v1/me", headers=rival).json()["organization"]["name"] == "Rival Inc"  # the token names one member
    [event] = [e for e in http.get("/v1/audit-events", headers=as_admin).json() if e["credential_type"] == "member"]
    assert (event["action"], event["credential_name"]) == ("add", "boss@rival.example") and event["detail"]
