"""Introspection (RFC 7662) and revocation (RFC 7009), driven by authlib against a real uvicorn."""

from __future__ import annotations

import warnings

import httpx
import pytest

from tests.server_support import bearer, in_process, live_server, new_client, new_token
from turris_api.server.api import create_app
from turris_api.server.settings import ServiceSettings
from turris_api.store.local import LocalStore
from turris_api.store.operator import create_organization


def oauth2_client(created, method: str = "client_secret_basic"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib nudges towards httpx2; its httpx integration is what we test
        from authlib.integrations.httpx_client import OAuth2Client

        return OAuth2Client(client_id=created.client.client_id, client_secret=created.secret,
                            token_endpoint_auth_method=method, revocation_endpoint_auth_method=method)


@pytest.fixture
def base_url(db):
    with live_server(lambda url: create_app(db, ServiceSettings(issuer=url))) as url:
        yield url


@pytest.fixture
def rival(db) -> LocalStore:
    create_organization(db, "Rival Corp", "boss@rival.example")
    return LocalStore(db, "boss@rival.example")


def fetch(base_url: str, created) -> str:
    with oauth2_client(created) as oauth:
        return oauth.fetch_token(f"{base_url}/oauth/token", grant_type="client_credentials")["access_token"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_introspecting_a_jwt_of_the_own_organization(base_url, admin, method):
    backend, gateway = new_client(admin, name="Backend"), new_client(admin, name="Gateway")
    jwt = fetch(base_url, backend)
    with oauth2_client(gateway, method) as oauth:
        response = oauth.introspect_token(f"{base_url}/oauth/introspect", token=jwt)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == body["sub"] == backend.client.client_id
    assert body["iss"] == base_url and body["aud"] == "turris-api"
    assert body["exp"] - body["iat"] == 3600 and body["jti"]
    assert isinstance(body["organization"]["id"], int) and body["organization"]["name"]
    assert jwt not in response.text


def test_introspecting_a_restricted_token(base_url, admin):
    gateway = new_client(admin, name="Gateway")
    value = new_token(admin, ips="10.0.0.1").value
    with oauth2_client(gateway) as oauth:
        body = oauth.introspect_token(f"{base_url}/oauth/introspect", token=value).json()
    assert body["active"] is True
    assert body["credential_type"] == "restricted_token"
    assert "client_id" not in body and "exp" not in body
    assert value not in str(body)


def test_another_organizations_tokens_are_inactive(base_url, admin, rival):
    gateway = new_client(admin, name="Gateway")
    their_jwt = fetch(base_url, new_client(rival, name="Rival backend"))
    their_token = new_token(rival, ips="10.0.0.1").value
    with oauth2_client(gateway) as oauth:
        for token in (their_jwt, their_token, "eyJnot.a.jwt", "trs_rat_nothing"):
            assert oauth.introspect_token(f"{base_url}/oauth/introspect", token=token).json() == {"active": False}


def test_introspection_needs_client_authentication(base_url, admin):
    jwt = fetch(base_url, new_client(admin))
    response = httpx.post(f"{base_url}/oauth/introspect", data={"token": jwt})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    response = httpx.post(f"{base_url}/oauth/introspect", data={"token": jwt}, headers=bearer(jwt))
    assert response.status_code == 401


def test_revoking_a_jwt_refuses_it_everywhere_at_once(base_url, admin):
    backend = new_client(admin, name="Backend")
    jwt, other = fetch(base_url, backend), fetch(base_url, backend)
    assert httpx.get(f"{base_url}/v1/whoami", headers=bearer(jwt)).status_code == 200
    with oauth2_client(backend) as oauth:
        response = oauth.revoke_token(f"{base_url}/oauth/revoke", token=jwt, token_type_hint="access_token")
        assert response.status_code == 200
        assert httpx.get(f"{base_url}/v1/whoami", headers=bearer(jwt)).status_code == 401
        assert oauth.introspect_token(f"{base_url}/oauth/introspect", token=jwt).json() == {"active": False}
        forward = bearer(jwt, **{"X-Original-Method": "GET", "X-Original-URI": "/v1/x"})
        assert httpx.get(f"{base_url}/auth/forward", headers=forward).status_code == 401
        # Revoking again, or a token that never was, is still 200.
        assert oauth.revoke_token(f"{base_url}/oauth/revoke", token=jwt).status_code == 200
        assert oauth.revoke_token(f"{base_url}/oauth/revoke", token="eyJnope").status_code == 200
    assert httpx.get(f"{base_url}/v1/whoami", headers=bearer(other)).status_code == 200


def test_a_client_cannot_revoke_another_clients_jwt(base_url, admin, rival):
    mine, theirs = new_client(admin, name="Mine"), new_client(rival, name="Theirs")
    sibling = new_client(admin, name="Sibling")
    for victim in (theirs, sibling):
        jwt = fetch(base_url, victim)
        with oauth2_client(mine) as oauth:
            assert oauth.revoke_token(f"{base_url}/oauth/revoke", token=jwt).status_code == 200
        assert httpx.get(f"{base_url}/v1/whoami", headers=bearer(jwt)).status_code == 200


def test_a_revocation_is_seen_by_another_instance(db, admin):
    backend = new_client(admin)
    with in_process(db) as first, in_process(db) as second:
        response = first.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(backend.client.client_id, backend.secret))
        jwt = response.json()["access_token"]
        assert second.get("/v1/whoami", headers=bearer(jwt)).status_code == 200
        revoked = first.post("/oauth/revoke", data={"token": jwt}, auth=(backend.client.client_id, backend.secret))
        assert revoked.status_code == 200
        assert second.get("/v1/whoami", headers=bearer(jwt)).status_code == 401


def test_metadata_advertises_introspection_revocation_and_openid_configuration(base_url):
    metadata = httpx.get(f"{base_url}/.well-known/oauth-authorization-server").json()
    assert metadata["introspection_endpoint"] == f"{base_url}/oauth/introspect"
    assert metadata["revocation_endpoint"] == f"{base_url}/oauth/revoke"
    openid = httpx.get(f"{base_url}/.well-known/openid-configuration").json()
    assert openid["issuer"] == metadata["issuer"] and openid["jwks_uri"] == metadata["jwks_uri"]


def test_introspection_and_revocation_bodies_are_held_to_the_token_endpoints_limit(db, admin):
    gateway = new_client(admin)
    with in_process(db) as client:
        for path in ("/oauth/introspect", "/oauth/revoke"):
            response = client.post(path, data={"token": "x" * 5000}, auth=(gateway.client.client_id, gateway.secret))
            assert response.status_code == 413
            assert response.json()["error"] == "invalid_request"
