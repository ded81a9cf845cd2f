"""The service under a real uvicorn on loopback, driven by real third-party clients."""

from __future__ import annotations

import warnings

import httpx
import jwt
import pytest

from tests.server_support import bearer, live_server, new_client, new_token
from turris_api.server.api import create_app
from turris_api.server.keys import ALGORITHM
from turris_api.server.settings import ServiceSettings, parse_networks


def oauth2_client(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib nudges towards httpx2; its httpx integration is what we test
        from authlib.integrations.httpx_client import OAuth2Client

        return OAuth2Client(**kwargs)


@pytest.fixture
def base_url(db):
    with live_server(lambda url: create_app(db, ServiceSettings(issuer=url))) as url:
        yield url


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_flow_and_pyjwkclient_verification(base_url, admin, method):
    created = new_client(admin, name=f"authlib {method}")
    oauth = oauth2_client(
        client_id=created.client.client_id, client_secret=created.secret, token_endpoint_auth_method=method
    )
    with oauth:
        token = oauth.fetch_token(f"{base_url}/oauth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 3600
        assert "refresh_token" not in token
        # authlib attaches the token to its own requests as a Bearer header.
        whoami = oauth.get(f"{base_url}/v1/whoami")
    assert whoami.status_code == 200
    assert whoami.json()["client_id"] == created.client.client_id

    metadata = httpx.get(f"{base_url}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == base_url
    assert metadata["token_endpoint"] == f"{base_url}/oauth/token"
    assert method in metadata["token_endpoint_auth_methods_supported"]

    jwks = jwt.PyJWKClient(metadata["jwks_uri"])
    signing_key = jwks.get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(
        token["access_token"], signing_key.key, algorithms=[ALGORITHM], audience="turris-api", issuer=base_url
    )
    assert claims["client_id"] == created.client.client_id
    assert claims["exp"] - claims["iat"] == 3600


def test_curl_style_request_as_in_the_readme(base_url, admin):
    created = new_client(admin)
    response = httpx.post(
        f"{base_url}/oauth/token",
        auth=(created.client.client_id, created.secret),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    whoami = httpx.get(f"{base_url}/v1/whoami", headers=bearer(response.json()["access_token"]))
    assert whoami.status_code == 200


def from_address(local: str) -> httpx.Client:
    """A client whose connections leave from a given loopback source address."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=local))


def test_restricted_token_from_two_source_addresses(base_url, admin):
    value = new_token(admin, ips="127.0.0.1").value
    with from_address("127.0.0.1") as allowed, from_address("127.0.0.2") as other:
        ok = allowed.get(f"{base_url}/v1/whoami", headers=bearer(value))
        refused = other.get(f"{base_url}/v1/whoami", headers=bearer(value))
        spoofed = other.get(f"{base_url}/v1/whoami", headers=bearer(value, **{"X-Forwarded-For": "127.0.0.1"}))
        scoped = allowed.get(f"{base_url}/v1/organization", headers=bearer(value))
    assert ok.status_code == 200
    assert ok.json()["type"] == "restricted_token"
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert spoofed.status_code == 403  # the peer is not a trusted proxy: its header changes nothing
    assert scoped.status_code == 403
    assert scoped.json()["error"] == "insufficient_scope"


def test_behind_a_trusted_proxy_forwarded_for_is_honoured_right_to_left(db, admin):
    value = new_token(admin, ips="198.51.100.7").value
    settings = ServiceSettings(trusted_proxies=parse_networks(["127.0.0.2/32"]))
    with live_server(lambda url: create_app(db, settings)) as url:
        with from_address("127.0.0.2") as proxy, from_address("127.0.0.1") as untrusted:
            forwarded = proxy.get(f"{url}/v1/whoami", headers=bearer(value, **{"X-Forwarded-For": "198.51.100.7"}))
            forged_first = proxy.get(
                f"{url}/v1/whoami", headers=bearer(value, **{"X-Forwarded-For": "198.51.100.7, 203.0.113.5"})
            )
            not_a_proxy = untrusted.get(
                f"{url}/v1/whoami", headers=bearer(value, **{"X-Forwarded-For": "198.51.100.7"})
            )
    assert forwarded.status_code == 200
    assert forged_first.status_code == 403  # the hop the proxy appended is the client
    assert not_a_proxy.status_code == 403
