"""The signing algorithm option: EdDSA by default, ES256 for gateways without EdDSA."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.server_support import TestClient, bearer, fetch_jwt, live_server, new_client
from turris_api.server import keys
from turris_api.server.api import create_app
from turris_api.server.config import ServeConfig
from turris_api.server.keys import rotate_signing_key
from turris_api.server.settings import ServiceSettings
from turris_api.store.errors import Invalid


def test_es256_tokens_verify_offline_with_the_published_jwks(db, admin):
    created = new_client(admin)
    with live_server(lambda url: create_app(db, ServiceSettings(issuer=url, algorithm="ES256"))) as base_url:
        with TestClient(create_app(db, ServiceSettings(issuer=base_url, algorithm="ES256"))) as client:
            token = fetch_jwt(client, created)
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        signing_key = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        claims = jwt.decode(token, signing_key.key, algorithms=["ES256"], audience="turris-api", issuer=base_url)
        assert claims["client_id"] == created.client.client_id
        assert httpx.get(f"{base_url}/v1/whoami", headers=bearer(token)).status_code == 200
        metadata = httpx.get(f"{base_url}/.well-known/oauth-authorization-server").json()
        assert metadata["access_token_signing_alg_values_supported"] == ["ES256"]


def test_switching_algorithm_keeps_the_tokens_already_out(db, admin):
    created = new_client(admin)
    with TestClient(create_app(db)) as eddsa:
        old = fetch_jwt(eddsa, created)
    with TestClient(create_app(db, ServiceSettings(algorithm="ES256"))) as es256:
        new = fetch_jwt(es256, created)
        assert es256.get("/v1/whoami", headers=bearer(old)).status_code == 200
        assert es256.get("/v1/whoami", headers=bearer(new)).status_code == 200
        kinds = {key["kty"] for key in es256.get("/.well-known/jwks.json").json()["keys"]}
    assert kinds == {"OKP", "EC"}
    assert jwt.get_unverified_header(old)["alg"] == "EdDSA"


def test_rotation_renews_every_algorithm_that_signs(db, admin, monkeypatch):
    created = new_client(admin)
    with TestClient(create_app(db, ServiceSettings(algorithm="ES256"))) as client:
        before = jwt.get_unverified_header(fetch_jwt(client, created))["kid"]
        rotate_signing_key(db)
        monkeypatch.setattr(keys, "SIGNING_KEY_TTL", 0.0)
        after = jwt.get_unverified_header(fetch_jwt(client, created))
    assert after["alg"] == "ES256" and after["kid"] != before


def test_a_token_naming_another_algorithm_than_its_key_is_refused(db, admin):
    created = new_client(admin)
    with TestClient(create_app(db)) as client:
        token = fetch_jwt(client, created)
        header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                            headers={"kid": header["kid"], "typ": "at+jwt"})
        assert client.get("/v1/whoami", headers=bearer(forged)).status_code == 401


def test_an_unknown_algorithm_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("TURRIS_SIGNING_ALGORITHM", "HS256")
    with pytest.raises(Invalid, match="signing_algorithm"):
        ServeConfig.load({})
