"""POST /oauth/token: what an OAuth client, a careless client and an attacker each get back."""

from __future__ import annotations

import asyncio
import base64
import time

import jwt
import pytest

from tests.server_support import TestClient, in_process, new_client
from turris_api.server.api import create_app
from turris_api.server.keys import ALGORITHM
from turris_api.server.settings import ServiceSettings
from turris_api.store import crypto

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def service(db):
    with in_process(db) as client:
        yield client


@pytest.fixture
def created(admin):
    return new_client(admin, origins="https://portal.example.com")


@pytest.fixture
def hashing(monkeypatch):
    """Counts real argon2 verifications, to show what is refused before any hashing."""
    calls = []
    real = crypto.verify_secret

    def counting(stored, presented):
        calls.append(1)
        return real(stored, presented)

    monkeypatch.setattr(crypto, "verify_secret", counting)
    return calls


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def jwks_key(service, token: str):
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in service.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == kid]
    return jwt.PyJWK(jwk).key


def test_basic_auth_gets_an_rfc9068_jwt_for_an_hour(service, admin, created):
    before = int(time.time())
    response = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == ALGORITHM
    claims = jwt.decode(token, jwks_key(service, token), algorithms=[ALGORITHM], audience="turris-api")
    assert claims["iss"] == ServiceSettings().issuer
    assert claims["sub"] == claims["client_id"] == created.client.client_id
    assert claims["exp"] == claims["iat"] + 3600
    assert before <= claims["iat"] <= int(time.time())
    assert claims["jti"]
    organization = admin.me().organization
    assert claims["organization"] == {"id": organization.id, "name": organization.name}


def test_credentials_in_the_body_work_too_and_each_token_is_unique(service, created):
    form = {**GRANT, "client_id": created.client.client_id, "client_secret": created.secret}
    first = service.post("/oauth/token", data=form)
    second = service.post("/oauth/token", data=form)
    assert first.status_code == second.status_code == 200
    assert first.json()["access_token"] != second.json()["access_token"]
    assert "www-authenticate" not in first.headers


def test_basic_credentials_are_form_urlencoded_per_rfc6749_2_3_1(service, created):
    encoded = created.secret.replace("_", "%5F").replace("-", "%2D")
    response = service.post("/oauth/token", data=GRANT, headers=basic(created.client.client_id, encoded))
    assert response.status_code == 200, response.text


def test_basic_and_body_at_once_is_invalid_request(service, created, hashing):
    response = service.post(
        "/oauth/token",
        data={**GRANT, "client_id": created.client.client_id, "client_secret": created.secret},
        auth=(created.client.client_id, created.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert hashing == []


@pytest.mark.parametrize("use_basic", [True, False], ids=["basic", "body"])
def test_wrong_secret_is_invalid_client_and_challenges_only_basic(service, created, use_basic):
    wrong = crypto.new_client_secret()
    if use_basic:
        response = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, wrong))
    else:
        response = service.post(
            "/oauth/token", data={**GRANT, "client_id": created.client.client_id, "client_secret": wrong}
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"
    assert ("www-authenticate" in response.headers) is use_basic
    if use_basic:
        assert response.headers["www-authenticate"].startswith("Basic")
    assert wrong not in response.text


def test_unknown_client_costs_the_same_one_hash_and_gets_the_same_answer(service, created, hashing):
    unknown = service.post("/oauth/token", data=GRANT, auth=(crypto.new_client_id(), created.secret))
    wrong = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, crypto.new_client_secret()))
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert len(hashing) == 2


def test_deleted_client_gets_no_token(service, admin, created):
    admin.delete_client(created.client.client_id)
    response = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_non_active_client_gets_no_token_until_re_enabled(service, admin, created):
    admin.set_client_status(created.client.id, "disabled")
    refused = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    admin.set_client_status(created.client.id, "active")
    assert service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret)).status_code == 200


def test_plan_without_api_access_gets_no_token(service, admin, created):
    admin.set_api_access(False)
    response = service.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({**GRANT, "scope": "admin"}, 400, "invalid_scope"),
    ],
)
def test_grant_and_scope_errors_follow_rfc6749_5_2(service, created, hashing, form, status, error):
    response = service.post("/oauth/token", data=form, auth=(created.client.client_id, created.secret))
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert hashing == []


def test_no_credentials_at_all_is_invalid_client(service):
    response = service.post("/oauth/token", data=GRANT)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "authorization",
    [
        b"Basic",
        b"Basic !!!not-base64!!!",
        b"Basic " + base64.b64encode(b"no-colon-here"),
        b"Basic " + base64.b64encode(b"\xff\xfe:\xfd"),
        b"Basic " + base64.b64encode(b"trs_ci_x:%zz%ff"),
        b"Basic \xc3\xa9\xc3\xa9",
        b"Bearer something",
        b"\xff\xfe",
    ],
    ids=["empty", "not-base64", "no-colon", "not-utf8", "bad-percent", "non-ascii", "other-scheme", "raw-bytes"],
)
def test_malformed_basic_is_a_4xx_never_a_500(service, hashing, authorization):
    response = service.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={"Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "invalid_client")
    assert hashing == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=x", "application/x-www-form-urlencoded"),
        (b"grant_type=client_credentials&client_id=%ff%fe&client_secret=x", "application/x-www-form-urlencoded"),
        ("grant_type=client_credentials&client_id=é&client_secret=x".encode(), "application/x-www-form-urlencoded"),
        (b"grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded"),
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=client_credentials", "text/plain"),
    ],
    ids=["raw-non-utf8", "percent-non-utf8", "non-ascii", "repeated", "json", "no-content-type"],
)
def test_bad_bodies_are_invalid_request_before_hashing(service, hashing, body, content_type):
    response = service.post("/oauth/token", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert hashing == []


def test_oversized_body_is_413_before_hashing(service, created, hashing):
    padding = "x" * 10_000
    response = service.post(
        "/oauth/token",
        data={**GRANT, "client_id": created.client.client_id, "client_secret": created.secret, "pad": padding},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert hashing == []


def test_oversized_chunked_body_is_413_too(service, hashing):
    def chunks():
        for _ in range(10):
            yield b"a" * 1000

    response = service.post(
        "/oauth/token", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert hashing == []


# --- throttling -----------------------------------------------------------------


def throttled_service(db, peer: str, window: int = 60):
    return in_process(db, ServiceSettings(throttle_window=window, throttle_per_client_ip=3, throttle_per_ip=6), peer)


def test_repeated_failures_are_throttled_before_hashing_but_not_from_everywhere(db, created, hashing):
    app_settings = ServiceSettings(throttle_per_client_ip=3, throttle_per_ip=6)
    app = create_app(db, app_settings)
    attacker = TestClient(app, client=("203.0.113.9", 5555))
    owner = TestClient(app, client=("198.51.100.7", 5555))
    client_id = created.client.client_id
    for _ in range(3):
        assert attacker.post("/oauth/token", data=GRANT, auth=(client_id, "guess")).status_code == 401
    hashed = len(hashing)

    throttled = attacker.post("/oauth/token", data=GRANT, auth=(client_id, created.secret))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["error"] == "slow_down"
    assert len(hashing) == hashed  # refused before any hashing

    # The integration itself, from its own address, is not locked out.
    assert owner.post("/oauth/token", data=GRANT, auth=(client_id, created.secret)).status_code == 200


def test_one_address_spraying_many_client_ids_is_throttled(db, hashing):
    with throttled_service(db, "203.0.113.10") as attacker:
        for _ in range(6):
            assert attacker.post("/oauth/token", data=GRANT, auth=(crypto.new_client_id(), "guess")).status_code == 401
        response = attacker.post("/oauth/token", data=GRANT, auth=(crypto.new_client_id(), "guess"))
    assert response.status_code == 429
    assert len(hashing) == 6


def test_a_correct_secret_works_again_after_the_window(db, created):
    # A window of a few seconds: the guesses must all land inside it even on a loaded machine.
    with throttled_service(db, "203.0.113.11", window=3) as client:
        for _ in range(3):
            client.post("/oauth/token", data=GRANT, auth=(created.client.client_id, "guess"))
        assert client.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret)).status_code == 429
        time.sleep(3.1)
        assert client.post("/oauth/token", data=GRANT, auth=(created.client.client_id, created.secret)).status_code == 200


# --- browsers at the token endpoint --------------------------------------------


def test_browser_from_an_allowed_origin_gets_the_token_with_cors_headers(service, created):
    response = service.post(
        "/oauth/token",
        data=GRANT,
        auth=(created.client.client_id, created.secret),
        headers={"Origin": "https://portal.example.com"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://portal.example.com"
    assert "Origin" in response.headers["vary"]


def test_browser_from_another_origin_is_refused_without_cors_headers(service, created):
    response = service.post(
        "/oauth/token",
        data=GRANT,
        auth=(created.client.client_id, created.secret),
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400  # RFC 6749 5.2: only a failed client authentication is not a 400
    assert response.json()["error"] == "invalid_request"
    assert "access-control-allow-origin" not in response.headers
    assert "access_token" not in response.text


def test_client_without_origins_accepts_any_browser(service, admin):
    open_client = new_client(admin, name="Open", origins="")
    response = service.post(
        "/oauth/token",
        data=GRANT,
        auth=(open_client.client.client_id, open_client.secret),
        headers={"Origin": "https://anywhere.example"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://anywhere.example"


@pytest.mark.parametrize("declared", [b"\xb2", b"-1", b"1e3", b"12 "])
def test_a_content_length_that_is_not_a_number_is_400_not_500(db, declared):
    """httpx and uvicorn never send these; a different server in front might pass them through."""
    app = create_app(db)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "method": "POST",
        "path": "/oauth/token", "raw_path": b"/oauth/token", "query_string": b"", "root_path": "",
        "headers": [(b"content-length", declared)], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"invalid_request" in sent[1]["body"]
