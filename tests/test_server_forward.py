"""Forward-auth in-process: every rule applied to the request the proxy asks about."""

from __future__ import annotations

import pytest

from tests.server_support import TestClient, bearer, fetch_jwt, new_client, new_token
from turris_api.server.api import create_app
from turris_api.server.settings import ServiceSettings, endpoint_rules, parse_networks
from turris_api.store.models import TokenDraft

PORTAL = "https://portal.example.com"


@pytest.fixture
def app(db):
    settings = ServiceSettings(
        trusted_proxies=parse_networks(["127.0.0.1/32"]),
        restricted_endpoints=endpoint_rules(["GET /v1/whoami", "GET /v1/policies/*"]),
    )
    return create_app(db, settings)


@pytest.fixture
def proxy(app):
    """The service as the reverse proxy on 127.0.0.1 reaches it."""
    with TestClient(app, client=("127.0.0.1", 40000), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def created(admin):
    return new_client(admin, origins=PORTAL)


def nginx(method: str, uri: str, client_ip: str = "127.0.0.1", **headers: str) -> dict[str, str]:
    return {"X-Original-Method": method, "X-Original-URI": uri, "X-Forwarded-For": client_ip, **headers}


def test_jwt_gets_identity_headers_for_the_upstream(proxy, created):
    jwt = fetch_jwt(proxy, created)
    response = proxy.get("/auth/forward", headers=nginx("POST", "/v1/orders?x=1", **bearer(jwt, Origin=PORTAL)))
    assert response.status_code == 200
    assert response.headers["x-turris-credential-type"] == "api_client"
    assert response.headers["x-turris-client-id"] == created.client.client_id
    assert response.headers["x-turris-credential-id"] == str(created.client.id)
    assert response.headers["x-turris-organization"].isdigit()
    assert response.headers["access-control-allow-origin"] == PORTAL
    assert "Origin" in response.headers["vary"]
    assert response.headers["cache-control"] == "no-store"  # a decision is never reused by a cache
    assert response.headers["content-length"] == "0" and response.content == b""
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-request-id"]
    assert jwt not in str(response.headers) and created.secret not in str(response.headers)


def test_no_token_is_401_with_a_bearer_challenge(proxy):
    response = proxy.get("/auth/forward", headers=nginx("GET", "/v1/orders"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_bad_token_is_401_invalid_token(proxy):
    response = proxy.get("/auth/forward", headers=nginx("GET", "/v1/orders", **bearer("eyJ.nope.x")))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_disallowed_origin_is_403_origin(proxy, created):
    jwt = fetch_jwt(proxy, created)
    response = proxy.get("/auth/forward", headers=nginx("GET", "/v1/x", **bearer(jwt, Origin="https://evil.example")))
    assert response.status_code == 403
    assert response.json()["reason"] == "origin"
    assert "access-control-allow-origin" not in response.headers


def test_restricted_token_is_judged_on_the_original_method_and_path(proxy, admin):
    value = new_token(admin, ips="127.0.0.1").value
    allowed = proxy.get("/auth/forward", headers=nginx("GET", "/v1/policies/42", **bearer(value)))
    assert allowed.status_code == 200
    assert allowed.headers["x-turris-credential-type"] == "restricted_token"
    assert allowed.headers["x-turris-client-id"] == ""  # sent empty, so a client's own cannot pass
    for method, uri in [("GET", "/v1/orders"), ("POST", "/v1/policies/42"), ("GET", "/v1/policies/42/rules")]:
        refused = proxy.get("/auth/forward", headers=nginx(method, uri, **bearer(value)))
        assert refused.status_code == 403, (method, uri)
        assert refused.json()["reason"] == "endpoint"


def test_restricted_token_from_another_address_is_403_ip(proxy, admin):
    value = new_token(admin, ips="127.0.0.1").value
    response = proxy.get("/auth/forward", headers=nginx("GET", "/v1/whoami", client_ip="127.0.0.2", **bearer(value)))
    assert response.status_code == 403
    assert response.json()["reason"] == "ip"
    assert value not in response.text


def test_dot_segments_are_refused_not_resolved(proxy, admin):
    value = new_token(admin, ips="127.0.0.1").value
    for uri in ["/v1/policies/../admin", "/v1/policies/%2e%2e/admin", "v1/whoami"]:
        assert proxy.get("/auth/forward", headers=nginx("GET", uri, **bearer(value))).status_code == 400, uri


def test_traefik_headers(proxy, admin):
    value = new_token(admin, ips="127.0.0.1").value
    headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/v1/policies/7", "X-Forwarded-Host": "api.example",
               "X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1", **bearer(value)}
    assert proxy.get("/auth/forward", headers=headers).status_code == 200
    headers["X-Forwarded-Uri"] = "/v1/orders"
    assert proxy.get("/auth/forward", headers=headers).status_code == 403


def test_envoy_appends_the_original_path(proxy, admin):
    value = new_token(admin, ips="127.0.0.1").value
    assert proxy.get("/auth/forward/v1/policies/7", headers=bearer(value)).status_code == 200
    assert proxy.post("/auth/forward/v1/policies/7", headers=bearer(value)).status_code == 403
    headers = bearer(value, **{"X-Forwarded-Method": "DELETE"})
    assert proxy.get("/auth/forward/v1/policies/7", headers=headers).status_code == 403


def test_no_original_request_is_400(proxy, created):
    assert proxy.get("/auth/forward", headers=bearer(fetch_jwt(proxy, created))).status_code == 400


def test_preflight_is_answered_without_a_token(proxy):
    response = proxy.get("/auth/forward", headers=nginx("OPTIONS", "/v1/orders", Origin=PORTAL,
                                                        **{"Access-Control-Request-Method": "POST"}))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PORTAL


def test_deletion_and_ip_change_apply_on_the_next_request(proxy, admin, created):
    jwt = fetch_jwt(proxy, created)
    token = new_token(admin, ips="127.0.0.1")
    ask = lambda credential: proxy.get("/auth/forward", headers=nginx("GET", "/v1/whoami", **bearer(credential)))  # noqa: E731
    assert ask(jwt).status_code == 200 and ask(token.value).status_code == 200
    admin.delete_client(created.client.id)
    assert ask(jwt).status_code == 401
    admin.update_token(token.token.id, TokenDraft(name=token.token.name, allowed_ips="10.0.0.1"), token.token.version)
    assert ask(token.value).status_code == 403
    admin.delete_token(token.token.id)
    assert ask(token.value).status_code == 401


def test_any_method_is_accepted(proxy, created):
    jwt = fetch_jwt(proxy, created)
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]:
        response = proxy.request(method, "/auth/forward", headers=nginx("GET", "/v1/x", **bearer(jwt)))
        assert response.status_code == 200, method


def test_endpoint_rules_parse_method_and_pattern():
    from turris_api.store.errors import Invalid

    (rule,) = endpoint_rules(["GET /v1/policies/*"])
    assert rule.matches("GET", "/v1/policies/1") and rule.matches("HEAD", "/v1/policies/1")
    assert not rule.matches("GET", "/v1/policies/1/x") and not rule.matches("PUT", "/v1/policies/1")
    (anything,) = endpoint_rules(["* /v1/reports/**"])
    assert anything.matches("DELETE", "/v1/reports/a/b") and not anything.matches("GET", "/v1/reportsx")
    assert endpoint_rules(["/v1/whoami"])[0].method == "GET"
    for bad in ["FETCH /x", "GET x", "GET /a b"]:
        with pytest.raises(Invalid):
            endpoint_rules([bad])
