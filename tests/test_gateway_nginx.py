"""A real nginx (docs/gateway/nginx.conf) in front of an echoing upstream, asking a real
`turris-api serve` about every request through /auth/forward."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.server_support import bearer, new_client, new_token
from tests.support.gateway import echo_upstream, nginx, nginx_binary
from tests.support.service import ServiceProcess
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.operator import bootstrap

PORTAL = "https://portal.example.com"
RESTRICTED = "GET /v1/whoami,GET /v1/policies/*"


@dataclass
class Gateway:
    url: str  # nginx
    service: str  # turris-api serve, for /oauth/token
    admin: LocalStore

    def jwt(self, created) -> str:
        response = httpx.post(f"{self.service}/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(created.client.client_id, created.secret))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[Gateway]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    root = tmp_path_factory.mktemp("gateway")
    url = f"sqlite:///{root / 'store.db'}"
    db = Database(url)
    bootstrap(db)
    service = ServiceProcess(url, "--trusted-proxy", "127.0.0.1/32", env={"TURRIS_RESTRICTED_ENDPOINTS": RESTRICTED})
    try:
        service.wait_ready()
        with echo_upstream() as upstream_port, nginx(binary, root, service.port, upstream_port) as base:
            yield Gateway(base, service.url, LocalStore(db))
    finally:
        service.stop()
        db.dispose()


@pytest.fixture
def from_other_address() -> Iterator[httpx.Client]:
    """A client whose connections come from 127.0.0.2."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
        yield client


def test_jwt_from_an_allowed_origin_reaches_the_upstream_with_identity(gateway):
    created = new_client(gateway.admin, name="Nginx portal", origins=PORTAL)
    jwt = gateway.jwt(created)
    response = httpx.post(f"{gateway.url}/v1/orders?page=2", headers=bearer(jwt, Origin=PORTAL), content=b"{}")
    assert response.status_code == 200, response.text
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert response.json()["method"] == "POST" and response.json()["path"] == "/v1/orders?page=2"
    assert seen["x-turris-credential-type"] == "api_client"
    assert seen["x-turris-client-id"] == created.client.client_id
    assert seen["x-turris-credential-id"] == str(created.client.id)
    assert seen["x-turris-organization"].isdigit()
    assert "authorization" not in seen  # the upstream gets the identity, not the token
    assert response.headers["access-control-allow-origin"] == PORTAL


def test_no_token_is_401_with_the_services_challenge(gateway):
    response = httpx.get(f"{gateway.url}/v1/orders")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_a_disallowed_origin_is_refused_by_nginx(gateway):
    jwt = gateway.jwt(new_client(gateway.admin, name="Origin-locked", origins=PORTAL))
    response = httpx.get(f"{gateway.url}/v1/orders", headers=bearer(jwt, Origin="https://evil.example"))
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert "x-turris-credential-type" not in response.text.lower()  # nginx's page, not the upstream's echo


def test_restricted_token_reaches_only_its_subset_from_its_address(gateway, from_other_address):
    value = new_token(gateway.admin, name="Nginx partner", ips="127.0.0.1").value
    allowed = httpx.get(f"{gateway.url}/v1/policies/42", headers=bearer(value))
    assert allowed.status_code == 200
    seen = {k.lower(): v for k, v in allowed.json()["headers"].items()}
    assert seen["x-turris-credential-type"] == "restricted_token"
    assert "x-turris-client-id" not in seen
    assert httpx.get(f"{gateway.url}/v1/orders", headers=bearer(value)).status_code == 403
    assert httpx.delete(f"{gateway.url}/v1/policies/42", headers=bearer(value)).status_code == 403
    assert from_other_address.get(f"{gateway.url}/v1/policies/42", headers=bearer(value)).status_code == 403


def test_spoofed_forwarding_and_identity_headers_change_nothing(gateway, from_other_address):
    value = new_token(gateway.admin, name="Nginx spoof", ips="127.0.0.1").value
    spoofed = bearer(value, **{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Uri": "/v1/whoami",
                               "X-Forwarded-Method": "GET"})
    assert from_other_address.get(f"{gateway.url}/v1/policies/1", headers=spoofed).status_code == 403
    assert httpx.get(f"{gateway.url}/v1/orders", headers=spoofed).status_code == 403
    claimed = httpx.get(f"{gateway.url}/v1/policies/1",
                        headers=bearer(value, **{"X-Turris-Client-Id": "trs_ci_someone", "X-Turris-Organization": "1"}))
    seen = {k.lower(): v for k, v in claimed.json()["headers"].items()}
    assert "x-turris-client-id" not in seen
    assert seen["x-turris-credential-type"] == "restricted_token"


def test_a_deleted_credential_is_refused_on_the_very_next_request(gateway):
    created = new_client(gateway.admin, name="Nginx doomed")
    jwt = gateway.jwt(created)
    token = new_token(gateway.admin, name="Nginx doomed token", ips="127.0.0.1")
    with httpx.Client() as client:
        assert client.get(f"{gateway.url}/v1/x", headers=bearer(jwt)).status_code == 200
        assert client.get(f"{gateway.url}/v1/whoami", headers=bearer(token.value)).status_code == 200
        gateway.admin.delete_client(created.client.id)
        gateway.admin.delete_token(token.token.id)
        assert client.get(f"{gateway.url}/v1/x", headers=bearer(jwt)).status_code == 401
        assert client.get(f"{gateway.url}/v1/whoami", headers=bearer(token.value)).status_code == 401
