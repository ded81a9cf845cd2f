"""The protected API: Bearer JWTs and Restricted Access Tokens, origins, addresses, endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.server_support import TestClient, bearer, fetch_jwt, in_process, new_client, new_token
from turris_api.server.api import create_app
from turris_api.server.keys import ALGORITHM
from turris_api.server.settings import ServiceSettings, endpoint_rules, parse_networks
from turris_api.store.models import TokenDraft


@pytest.fixture
def app(db):
    return create_app(db)


@pytest.fixture
def service(app):
    with TestClient(app, client=("127.0.0.1", 40000), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def created(admin):
    return new_client(admin, origins="https://portal.example.com, http://localhost:3000")


@pytest.fixture
def token(service, created):
    return fetch_jwt(service, created)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict, claims: dict) -> str:
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())


def good_claims(app, created, **changes) -> dict:
    """What the service itself would sign, before a test bends one thing."""
    now = int(time.time())
    client = _verified(app, created)
    claims = {
        "iss": app.state.service.settings.issuer,
        "sub": client.client_id,
        "client_id": client.client_id,
        "aud": "turris-api",
        "iat": now,
        "exp": now + 3600,
        "jti": "t-1",
        "organization": {"id": client.organization_id, "name": client.organization_name},
    }
    claims.update(changes)
    return claims


def service_key(app):
    return app.state.service.keys.signing_key()


def whoami(service, token: str, **headers):
    return service.get("/v1/whoami", headers=bearer(token, **headers))


# --- the happy path ----------------------------------------------------------------


def test_whoami_and_organization_with_a_jwt(service, admin, created, token):
    response = whoami(service, token)
    assert response.status_code == 200
    org = admin.me().organization
    assert response.json() == {
        "type": "api_client",
        "name": created.client.name,
        "client_id": created.client.client_id,
        "organization": {"id": org.id, "name": org.name},
    }
    response = service.get("/v1/organization", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"id": org.id, "name": org.name, "api_access": True}


def test_missing_token_is_401_with_a_bare_bearer_challenge(service):
    response = service.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="turris"'
    assert response.json()["message"]


def test_a_token_in_the_query_string_is_not_accepted(service, token):
    response = service.get("/v1/whoami", params={"access_token": token})
    assert response.status_code == 401


# --- the security matrix for JWTs ---------------------------------------------------


def forged(app, created, case: str, real: str) -> str:
    key = service_key(app)
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid}
    if case == "expired":
        return app.state.service.issuer.sign(_verified(app, created), now=int(time.time()) - 3600 - 120)
    if case == "tampered-claims":
        head, payload, signature = real.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["organization"]["id"] += 1
        return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"
    if case == "tampered-signature":
        head, payload, signature = real.split(".")
        flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
        flipped[0] ^= 1
        return f"{head}.{payload}.{b64(bytes(flipped))}"
    if case == "alg-none":
        return unsigned_parts({"alg": "none", "typ": "at+jwt", "kid": key.kid}, good_claims(app, created)) + "."
    if case.startswith("hs256-with-public-key"):
        public = key.private_key.public_key()
        secret = {
            "hs256-with-public-key-pem": public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "hs256-with-public-key-raw": public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        }[case]
        signing_input = unsigned_parts({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, good_claims(app, created))
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"
    if case == "wrong-key":
        return jwt.encode(good_claims(app, created), Ed25519PrivateKey.generate(), algorithm=ALGORITHM, headers=header)
    if case == "unknown-kid":
        return jwt.encode(
            good_claims(app, created), key.private_key, algorithm=ALGORITHM, headers={**header, "kid": "nope"}
        )
    if case == "sql-kid":
        return jwt.encode(
            good_claims(app, created), key.private_key, algorithm=ALGORITHM, headers={**header, "kid": "' OR 1=1--"}
        )
    if case == "wrong-audience":
        return jwt.encode(good_claims(app, created, aud="another-api"), key.private_key, algorithm=ALGORITHM,
                          headers=header)
    if case == "wrong-issuer":
        return jwt.encode(good_claims(app, created, iss="https://evil.example"), key.private_key,
                          algorithm=ALGORITHM, headers=header)
    if case == "no-typ":
        return jwt.encode(good_claims(app, created), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    if case == "no-exp":
        claims = good_claims(app, created)
        del claims["exp"]
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers=header)
    if case == "sub-differs":
        return jwt.encode(good_claims(app, created, sub="trs_ci_someoneelse"), key.private_key, algorithm=ALGORITHM,
                          headers=header)
    if case == "not-yet-issued":
        later = int(time.time()) + 600
        return jwt.encode(good_claims(app, created, iat=later, exp=later + 3600), key.private_key,
                          algorithm=ALGORITHM, headers=header)
    if case == "garbage":
        return "not.a.jwt"
    if case == "huge":
        return "a" * 16_000
    raise AssertionError(case)


def _verified(app, created):
    return app.state.service.verifier.active_client(created.client.client_id)


SECURITY_CASES = [
    "expired",
    "tampered-claims",
    "tampered-signature",
    "alg-none",
    "hs256-with-public-key-pem",
    "hs256-with-public-key-raw",
    "wrong-key",
    "unknown-kid",
    "sql-kid",
    "wrong-audience",
    "wrong-issuer",
    "no-typ",
    "no-exp",
    "sub-differs",
    "not-yet-issued",
    "garbage",
    "huge",
]


@pytest.mark.parametrize("case", SECURITY_CASES)
def test_a_bad_jwt_is_401_invalid_token(app, service, created, token, case):
    bad = forged(app, created, case, token)
    assert whoami(service, token).status_code == 200  # the genuine one still works
    response = whoami(service, bad)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="turris", error="invalid_token"'
    assert response.json()["error"] == "invalid_token"
    assert bad not in response.text


def test_a_token_that_expires_while_remembered_is_refused(service, token, monkeypatch):
    from turris_api.server import resources

    assert whoami(service, token).status_code == 200  # verified once, now remembered
    later = time.time() + 3600 + 60
    monkeypatch.setattr(resources, "_now", lambda: later)
    response = whoami(service, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_deleted_client_is_refused_on_the_very_next_request(service, admin, created, token):
    assert whoami(service, token).status_code == 200
    admin.delete_client(created.client.client_id)
    response = whoami(service, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_disabled_client_is_refused_on_the_very_next_request(service, admin, created, token):
    admin.set_client_status(created.client.id, "disabled")
    assert whoami(service, token).status_code == 401
    admin.set_client_status(created.client.id, "active")
    assert whoami(service, token).status_code == 401  # not-before: re-enabling revives no old JWT
    assert whoami(service, fetch_jwt(service, created)).status_code == 200


def test_plan_losing_api_access_refuses_jwts(service, admin, token):
    admin.set_api_access(False)
    assert whoami(service, token).status_code == 401


# --- Allowed Origins ---------------------------------------------------------------


def test_allowed_origin_reads_the_answer(service, token):
    response = whoami(service, token, Origin="https://portal.example.com")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://portal.example.com"
    assert "Origin" in response.headers["vary"]
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["client_id"].startswith("trs_ci_")


def test_origin_is_compared_after_the_store_normalization(service, token):
    response = whoami(service, token, Origin="HTTPS://Portal.Example.com:443")
    assert response.status_code == 200


def test_other_origin_is_403_without_cors_headers(service, token):
    for origin in ("https://evil.example", "http://portal.example.com", "https://portal.example.com:8443", "null"):
        response = whoami(service, token, Origin=origin)
        assert response.status_code == 403, origin
        assert "access-control-allow-origin" not in response.headers
        assert response.json()["error"] == "forbidden"


def test_origin_change_applies_on_the_next_request(service, admin, created, token):
    assert whoami(service, token, Origin="https://new.example").status_code == 403
    current = admin.get_client(created.client.id)
    from turris_api.store.models import ClientDraft

    admin.update_client(current.id, ClientDraft(name=current.name, allowed_origins="https://new.example"), current.version)
    assert whoami(service, token, Origin="https://new.example").status_code == 200
    assert whoami(service, token, Origin="https://portal.example.com").status_code == 403


def test_client_without_origins_accepts_any_origin(service, admin):
    open_client = new_client(admin, name="Open", origins="")
    token = fetch_jwt(service, open_client)
    response = whoami(service, token, Origin="https://anything.example")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://anything.example"


def test_preflight_answers_204_with_authorization_allowed(service):
    response = service.options(
        "/v1/whoami",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-origin"] == "https://evil.example"


# --- Restricted Access Tokens --------------------------------------------------------


def restricted_app(db, proxies: str = "", endpoints=None):
    settings = ServiceSettings(
        trusted_proxies=parse_networks([p for p in proxies.split(",") if p]),
        **({"restricted_endpoints": endpoint_rules(endpoints)} if endpoints is not None else {}),
    )
    return create_app(db, settings)


def call_from(app, peer: str, token: str, path: str = "/v1/whoami", **headers):
    with TestClient(app, client=(peer, 40000)) as client:
        return client.get(path, headers=bearer(token, **headers))


def test_restricted_token_from_an_allowed_address(db, admin):
    value = new_token(admin, ips="127.0.0.1, 10.0.0.0/8").value
    app = restricted_app(db)
    response = call_from(app, "10.1.2.3", value)
    assert response.status_code == 200
    assert response.json()["type"] == "restricted_token"
    assert response.json()["client_id"] is None
    assert call_from(app, "127.0.0.1", value).status_code == 200


def test_restricted_token_from_another_address_is_403_forbidden(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    response = call_from(restricted_app(db), "127.0.0.2", value)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_restricted_token_outside_the_subset_is_insufficient_scope(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    response = call_from(restricted_app(db), "127.0.0.1", value, "/v1/organization")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_subset_decisions_stay_per_path_when_asked_again(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    app = restricted_app(db)
    for _ in range(3):  # remembered after the first time, and still each path's own answer
        assert call_from(app, "127.0.0.1", value, "/v1/whoami").status_code == 200
        assert call_from(app, "127.0.0.1", value, "/v1/organization").status_code == 403


def test_the_restricted_subset_is_configurable(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    app = restricted_app(db, endpoints=["/v1/whoami", "/v1/organization"])
    assert call_from(app, "127.0.0.1", value, "/v1/organization").status_code == 200


def test_unknown_and_deleted_restricted_tokens_are_401(db, admin):
    created = new_token(admin, ips="127.0.0.1")
    app = restricted_app(db)
    assert call_from(app, "127.0.0.1", created.value).status_code == 200
    admin.delete_token(created.token.id)
    response = call_from(app, "127.0.0.1", created.value)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert call_from(app, "127.0.0.1", created.value[:-3] + "abc").status_code == 401


def test_allowed_ip_change_applies_on_the_next_request(db, admin):
    created = new_token(admin, ips="127.0.0.1")
    app = restricted_app(db)
    assert call_from(app, "127.0.0.1", created.value).status_code == 200
    admin.update_token(created.token.id, TokenDraft(name=created.token.name, allowed_ips="127.0.0.2"), 1)
    assert call_from(app, "127.0.0.1", created.value).status_code == 403
    assert call_from(app, "127.0.0.2", created.value).status_code == 200


def test_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    app = restricted_app(db)
    assert call_from(app, "127.0.0.2", value, **{"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert call_from(app, "127.0.0.1", value, **{"X-Forwarded-For": "192.0.2.1"}).status_code == 200


def test_trusted_proxy_forwarded_for_is_read_right_to_left(db, admin):
    value = new_token(admin, ips="198.51.100.7").value
    app = restricted_app(db, proxies="10.0.0.0/8")
    # The client put a forged address first; the balancer appended the real one.
    assert call_from(app, "10.0.0.5", value, **{"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}).status_code == 200
    assert call_from(app, "10.0.0.5", value, **{"X-Forwarded-For": "198.51.100.7, 6.6.6.6"}).status_code == 403
    # Chained trusted proxies are skipped.
    assert call_from(app, "10.0.0.5", value, **{"X-Forwarded-For": "198.51.100.7, 10.9.9.9"}).status_code == 200
    # Garbage from the proxy is refused, not guessed around.
    assert call_from(app, "10.0.0.5", value, **{"X-Forwarded-For": "not-an-ip"}).status_code == 403


def test_restricted_tokens_get_cors_headers_for_any_page(db, admin):
    value = new_token(admin, ips="127.0.0.1").value
    response = call_from(restricted_app(db), "127.0.0.1", value, Origin="https://partner.example")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://partner.example"


def test_member_token_is_not_an_api_credential(db, admin):
    from turris_api.store.operator import issue_member_token

    member_token = issue_member_token(db, admin.me().member.email)
    with in_process(db) as client:
        assert client.get("/v1/whoami", headers=bearer(member_token)).status_code == 401


def test_the_forging_helper_signs_what_the_service_accepts(app, service, created):
    """Control for the matrix: with nothing bent, a hand-made token passes, so each case tests one thing."""
    key = service_key(app)
    made = jwt.encode(good_claims(app, created), key.private_key, algorithm=ALGORITHM,
                      headers={"alg": ALGORITHM, "typ": "at+jwt", "kid": key.kid})
    assert whoami(service, made).status_code == 200
