"""Signing keys live in the store: every instance signs and verifies alike, and rotation is gentle."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from tests.server_support import TestClient, bearer, fetch_jwt, new_client
from turris_api.server import keys
from turris_api.server.api import create_app
from turris_api.server.keys import ALGORITHM, rotate_signing_key
from turris_api.server.settings import ServiceSettings
from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.schema import signing_keys, utcnow


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def jwks_kids(client) -> list[str]:
    return [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]


@pytest.fixture
def created(admin):
    return new_client(admin)


def test_first_start_creates_one_key_that_later_starts_reuse(db):
    create_app(db)
    create_app(db)
    with db.read() as conn:
        rows = conn.execute(sa.select(signing_keys)).all()
    assert len(rows) == 1
    assert rows[0].algorithm == ALGORITHM
    # Sealed under the SQLite store's signing.key; PostgreSQL without an at-rest key keeps a PEM (serve refuses that).
    assert rows[0].private_key.startswith(keys.SEALED) if db.is_sqlite else "PRIVATE KEY" in rows[0].private_key
    assert "d" not in rows[0].public_jwk  # the published half has no private part


def test_jwks_publishes_public_okp_keys_only(db):
    with TestClient(create_app(db)) as client:
        response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == ALGORITHM and key["use"] == "sig"
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}


def test_two_instances_on_one_database_verify_each_others_tokens(database_url, admin, created):
    other = Database(database_url)
    try:
        with TestClient(create_app(admin.db)) as one, TestClient(create_app(other)) as two:
            token = fetch_jwt(one, created)
            assert two.get("/v1/whoami", headers=bearer(token)).status_code == 200
            token = fetch_jwt(two, created)
            assert one.get("/v1/whoami", headers=bearer(token)).status_code == 200
    finally:
        other.dispose()


def test_rotation_signs_with_the_new_key_and_the_old_one_verifies_until_its_tokens_expired(
    db, created, monkeypatch
):
    monkeypatch.setattr(keys, "SIGNING_KEY_TTL", 0.0)  # follow the rotation at once, not within seconds
    app = create_app(db)
    with TestClient(app) as client:
        old_token = fetch_jwt(client, created)
        old_kid = kid_of(old_token)

        new_kid = rotate_signing_key(db)

        assert new_kid != old_kid
        new_token = fetch_jwt(client, created)
        assert kid_of(new_token) == new_kid
        assert client.get("/v1/whoami", headers=bearer(old_token)).status_code == 200
        assert client.get("/v1/whoami", headers=bearer(new_token)).status_code == 200
        assert set(jwks_kids(client)) == {old_kid, new_kid}

        # An hour and a bit later the old key's last token has expired: it drops out.
        with db.write() as conn:
            conn.execute(
                signing_keys.update()
                .where(signing_keys.c.kid == old_kid)
                .values(rotated_at=utcnow() - keys.KEY_RETENTION - timedelta(seconds=1))
            )
    with TestClient(create_app(db)) as fresh:
        assert jwks_kids(fresh) == [new_kid]
        assert fresh.get("/v1/whoami", headers=bearer(old_token)).status_code == 401
        assert fresh.get("/v1/whoami", headers=bearer(new_token)).status_code == 200


def test_rotation_deletes_keys_past_their_retention(db):
    original = keys.ensure_signing_key(db)
    second = rotate_signing_key(db)
    with db.write() as conn:
        conn.execute(
            signing_keys.update()
            .where(signing_keys.c.kid == original)
            .values(rotated_at=utcnow() - keys.KEY_RETENTION - timedelta(minutes=5))
        )
    third = rotate_signing_key(db)
    with db.read() as conn:
        kids = set(conn.execute(sa.select(signing_keys.c.kid)).scalars())
    assert kids == {second, third}  # the key just rotated out still verifies; the expired one is gone


def test_a_kid_rotated_in_by_another_instance_is_found_without_waiting(db, created, monkeypatch):
    with TestClient(create_app(db)) as one, TestClient(create_app(db)) as two:
        two.get("/v1/whoami", headers=bearer(fetch_jwt(two, created)))  # two has loaded its verification keys
        rotate_signing_key(db)
        monkeypatch.setattr(keys, "SIGNING_KEY_TTL", 0.0)  # one signs with the new key right away
        token = fetch_jwt(one, created)
        assert two.get("/v1/whoami", headers=bearer(token)).status_code == 200


def test_private_keys_kept_under_a_passphrase_keep_working(database_url, admin, created):
    passphrase = b"correct horse battery staple"
    rotate_signing_key(admin.db, keys.KeyMaterial(passphrase=passphrase))
    with admin.db.read() as conn:
        pem = conn.execute(sa.select(signing_keys.c.private_key).where(signing_keys.c.rotated_at.is_(None))).scalar()
    assert "ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(Unavailable, match=keys.PASSPHRASE_ENV):
        create_app(admin.db).state.service.keys.signing_key()

    with TestClient(create_app(admin.db, ServiceSettings(passphrase=passphrase))) as client:
        token = fetch_jwt(client, created)
        assert client.get("/v1/whoami", headers=bearer(token)).status_code == 200
