"""What an operator relies on: readiness that tells the truth, metrics that move, signing keys that
are useless without the at-rest key, and a configuration that is validated and printed safely."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.server_support import TestClient, bearer, fetch_jwt, new_client
from tests.support.service import TURRIS_API
from turris_api.server import keys
from turris_api.server.api import create_app
from turris_api.server.config import ServeConfig
from turris_api.server.settings import ServiceSettings
from turris_api.store.errors import Invalid
from turris_api.store.schema import signing_keys

AT_REST_KEY = os.urandom(32)


@pytest.fixture
def created(admin):
    return new_client(admin)


def stored_private_keys(db) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(signing_keys.c.private_key)).scalars())


def metric(client, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- health --------------------------------------------------------------------


def test_live_and_ready_answer_200_on_a_healthy_service(db):
    with TestClient(create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))) as client:
        assert client.get("/health/live").json() == {"status": "live"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_ready_is_503_with_a_reason_when_no_token_can_be_signed(db, created):
    """The key was sealed under one at-rest key and the service is started with another: the
    JWKS still answers 200, but readiness (and the token endpoint) do not pretend."""
    create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))
    with TestClient(create_app(db, ServiceSettings(at_rest_key=os.urandom(32)))) as client:
        assert client.get("/.well-known/jwks.json").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        problems = ready.json()["problems"]
        assert [p["check"] for p in problems] == ["signing"]
        assert "cannot be decrypted" in problems[0]["reason"]
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(created.client.client_id, created.secret))
        assert token.status_code == 503


def test_ready_is_503_when_the_store_cannot_be_read(db, monkeypatch):
    from turris_api.store.errors import Unavailable

    with TestClient(create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))) as client:
        def broken() -> None:
            raise Unavailable("The credential store cannot be reached. Try again in a moment.")

        monkeypatch.setattr(db, "ping", broken)
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["problems"][0]["check"] == "store"


# --- metrics -------------------------------------------------------------------


def test_counters_move_with_tokens_refusals_and_authorizations(db, created):
    with TestClient(create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))) as client:
        issued = metric(client, "turris_tokens_issued_total")
        refused = metric(client, "turris_token_refusals_total", reason="invalid_client")
        ok = metric(client, "turris_authorizations_total", result="ok")
        invalid = metric(client, "turris_authorizations_total", result="invalid_token")

        token = fetch_jwt(client, created)
        client.post("/oauth/token", data={"grant_type": "client_credentials"},
                    auth=(created.client.client_id, "wrong-secret"))
        client.get("/v1/whoami", headers=bearer(token))
        client.get("/v1/whoami", headers=bearer("not-a-jwt"))

        assert metric(client, "turris_tokens_issued_total") == issued + 1
        assert metric(client, "turris_token_refusals_total", reason="invalid_client") == refused + 1
        assert metric(client, "turris_authorizations_total", result="ok") == ok + 1
        assert metric(client, "turris_authorizations_total", result="invalid_token") == invalid + 1
        text = client.get("/metrics").text
        assert 'turris_request_duration_seconds_count{method="POST",route="/oauth/token"}' in text
        assert created.secret not in text and token not in text and created.client.client_id not in text


# --- signing keys at rest ------------------------------------------------------


def test_a_stored_signing_key_is_useless_without_the_at_rest_key(db, created):
    with TestClient(create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))) as client:
        real = fetch_jwt(client, created)
        [stored] = stored_private_keys(db)
        assert stored.startswith(keys.SEALED) and "PRIVATE KEY" not in stored

        blob = base64.urlsafe_b64decode(stored[len(keys.SEALED):])
        for candidate in (stored.encode(), blob, blob[keys.NONCE_BYTES:]):
            for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
                with pytest.raises((ValueError, TypeError)):
                    load(candidate, password=None)
        # Whatever 32 bytes of it someone tries as the raw Ed25519 key, no JWT signed with it verifies.
        claims = jwt.decode(real, options={"verify_signature": False})
        header = jwt.get_unverified_header(real)
        for start in range(0, len(blob) - 32, 8):
            forged_key = Ed25519PrivateKey.from_private_bytes(blob[start:start + 32])
            forged = jwt.encode(claims, forged_key, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "at+jwt"})
            assert client.get("/v1/whoami", headers=bearer(forged)).status_code == 401
        assert client.get("/v1/whoami", headers=bearer(real)).status_code == 200


def test_plaintext_and_passphrase_keys_are_sealed_at_start_and_keep_signing(db, created):
    keys.ensure_signing_key(db, keys.ALGORITHM, keys.KeyMaterial())  # an older store: a plaintext PEM
    [plain] = stored_private_keys(db)
    assert "BEGIN PRIVATE KEY" in plain
    with TestClient(create_app(db, ServiceSettings(at_rest_key=AT_REST_KEY))) as client:
        [sealed] = stored_private_keys(db)
        assert sealed.startswith(keys.SEALED)
        assert client.get("/v1/whoami", headers=bearer(fetch_jwt(client, created))).status_code == 200

    passphrase = b"correct horse battery staple"
    keys.rotate_signing_key(db, keys.KeyMaterial(passphrase=passphrase))
    settings = ServiceSettings(at_rest_key=AT_REST_KEY, passphrase=passphrase)
    with TestClient(create_app(db, settings)) as client:
        assert all(k.startswith(keys.SEALED) for k in stored_private_keys(db))
        assert client.get("/v1/whoami", headers=bearer(fetch_jwt(client, created))).status_code == 200


def test_serve_creates_a_private_key_file_beside_an_sqlite_store(tmp_path):
    from tests.support.service import ServiceProcess

    process = ServiceProcess(f"sqlite:///{tmp_path / 'store.db'}", "--migrate").wait_ready()
    try:
        key_file = tmp_path / "signing.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert process.proc.poll() is None
    finally:
        process.stop()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(signing_keys.c.private_key)).scalar()
    engine.dispose()
    assert stored.startswith(keys.SEALED)
    assert key_file.read_text().strip() not in stored


# --- configuration -------------------------------------------------------------


def test_flags_beat_the_environment_which_beats_the_file(tmp_path, monkeypatch):
    file = tmp_path / "serve.toml"
    file.write_text('port = 9001\nbody_limit = 2048\ntoken_lifetime = 600\n')
    monkeypatch.setenv("TURRIS_BODY_LIMIT", "4096")
    config = ServeConfig.load({"port": 9002}, file)
    assert (config.port, config.body_limit, config.token_lifetime) == (9002, 4096, 600)


@pytest.mark.parametrize("setting,value", [("TURRIS_HEAD_LIMIT", "12"), ("TURRIS_READ_TIMEOUT", "-1"),
                                           ("TURRIS_THROTTLE_WINDOW", "often"), ("TURRIS_TRUSTED_PROXIES", "10.0.0.300")])
def test_a_bad_setting_is_refused_naming_the_setting_and_value(monkeypatch, setting, value):
    monkeypatch.setenv(setting, value)
    with pytest.raises(Invalid) as refused:
        ServeConfig.load({})
    name = setting.removeprefix("TURRIS_").lower()
    assert refused.value.field == name
    assert f"Setting {name}" in str(refused.value) and value in str(refused.value)


def test_an_unknown_key_in_the_file_is_refused(tmp_path):
    file = tmp_path / "serve.toml"
    file.write_text("body_limt = 2048\n")
    with pytest.raises(Invalid, match="body_limt"):
        ServeConfig.load({}, file)


def test_print_config_shows_the_effective_settings_without_secrets(tmp_path):
    secret = base64.b64encode(os.urandom(32)).decode()
    env = {**os.environ, "TURRIS_SECRET_KEY": secret, "TURRIS_SIGNING_KEY_PASSPHRASE": "hunter2-passphrase",
           "TURRIS_TOKEN_LIFETIME": "900"}
    db_url = "postgresql+psycopg://svc:db-password-42@db.internal/turris"
    result = subprocess.run([TURRIS_API, "--db", db_url, "serve", "--port", "9100", "--print-config"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["port"] == 9100 and shown["token_lifetime"] == 900
    assert shown["secret_key"] == "(set)" and shown["signing_key_passphrase"] == "(set)"
    for value in (secret, "hunter2-passphrase", "db-password-42"):
        assert value not in result.stdout + result.stderr


def test_serve_on_postgresql_without_an_at_rest_key_is_refused(postgres_url):
    env = {k: v for k, v in os.environ.items() if k != "TURRIS_SECRET_KEY"}
    result = subprocess.run([TURRIS_API, "--db", postgres_url, "serve", "--migrate", "--port", "1"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "TURRIS_SECRET_KEY" in result.stderr


def test_the_at_rest_key_rotates_with_the_previous_one_configured_for_one_start(db, created):
    old, new = AT_REST_KEY, os.urandom(32)
    create_app(db, ServiceSettings(at_rest_key=old))
    with TestClient(create_app(db, ServiceSettings(at_rest_key=new, previous_at_rest_key=old))) as client:
        assert client.get("/v1/whoami", headers=bearer(fetch_jwt(client, created))).status_code == 200
    with TestClient(create_app(db, ServiceSettings(at_rest_key=new))) as client:  # the old key can go now
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v1/whoami", headers=bearer(fetch_jwt(client, created))).status_code == 200
    with TestClient(create_app(db, ServiceSettings(at_rest_key=old))) as client:
        assert client.get("/health/ready").status_code == 503


def test_two_workers_answer_one_scrape_for_the_whole_instance(tmp_path):
    """prometheus_client's multiprocess mode: whichever worker a scrape reaches, it counts both."""
    import httpx

    from tests.support.service import ServiceProcess

    process = ServiceProcess(f"sqlite:///{tmp_path / 'store.db'}", "--migrate", "--workers", "2").wait_ready()
    try:
        for _ in range(12):  # a new connection each: the kernel spreads them over the workers
            httpx.get(f"{process.url}/health/live", headers={"Connection": "close"})
        wanted = 'turris_responses_total{method="GET",route="/health/live",status="2xx"} 12.0'
        for _ in range(4):
            text = httpx.get(f"{process.url}/metrics", headers={"Connection": "close"}).text
            assert wanted in text
    finally:
        process.stop()


def test_start_up_warns_of_a_public_address_without_an_issuer(monkeypatch):
    from turris_api.server.run import startup_warnings

    monkeypatch.delenv("TURRIS_ISSUER", raising=False)
    assert any("TURRIS_ISSUER" in w for w in startup_warnings(ServeConfig.load({"host": "0.0.0.0"})))
    assert startup_warnings(ServeConfig.load({"host": "127.0.0.1"})) == []
    assert startup_warnings(ServeConfig.load({"host": "0.0.0.0", "issuer": "https://api.example.com"})) == []
