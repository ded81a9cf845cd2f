"""Signing-key rotation across instances: `turris-api keys rotate` adds a key that signs from then
on; the old key stays published and verifying until the last token it signed has expired, then
drops out. The passing of an hour is simulated by backdating the rotation in the database."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from tests.server_support import bearer, fetch_jwt, in_process, new_client
from tests.support.service import TURRIS_API, secret_key_for
from turris_api.server import keys as signing
from turris_api.server.keys import KEY_RETENTION, ensure_signing_key
from turris_api.server.settings import ServiceSettings
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.operator import bootstrap
from turris_api.store.schema import signing_keys, utcnow

AUDIENCE = "turris-api"


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def instance_on(db: Database, database_url: str):
    """An instance with the at-rest key `keys rotate` uses: the SQLite store's key file, or the shared key."""
    shared = secret_key_for(database_url).get("TURRIS_SECRET_KEY")
    return in_process(db, ServiceSettings(at_rest_key=base64.b64decode(shared)) if shared else None)


def published(instance) -> dict[str, jwt.PyJWK]:
    keys = jwt.PyJWKSet.from_dict(instance.get("/.well-known/jwks.json").json())
    return {key.key_id: key for key in keys.keys}


def rotate(database_url: str) -> str:
    done = subprocess.run(
        [TURRIS_API, "--db", database_url, "keys", "rotate", "--json"], capture_output=True, text=True, timeout=60,
        env={**os.environ, **secret_key_for(database_url)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["kid"]


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    bootstrap(database)
    yield database
    database.dispose()


def test_rotation_publishes_first_keeps_the_old_key_until_its_tokens_expired_then_drops_it(
    db, database_url, monkeypatch
):
    # Instances re-read the signing key every SIGNING_KEY_TTL; zero makes "from then on" immediate
    # here without changing what is under test.
    monkeypatch.setattr(signing, "SIGNING_KEY_TTL", 0.0)
    made = new_client(LocalStore(db))
    first, second = instance_on(db, database_url), instance_on(db, database_url)
    old = fetch_jwt(first, made)
    old_kid = kid_of(old)
    for instance in (first, second):  # relying parties have fetched the JWKS before the rotation
        assert set(published(instance)) == {old_kid}

    new_kid = rotate(database_url)
    assert new_kid != old_kid
    fresh = fetch_jwt(second, made)
    assert kid_of(fresh) == new_kid
    assert kid_of(fetch_jwt(first, made)) == new_kid

    # Both keys are published by every instance, and both tokens verify everywhere, inside the
    # service and for a relying party that checks against the published JWKS.
    for instance in (first, second):
        keys = published(instance)
        assert {old_kid, new_kid} <= set(keys)
        for token in (old, fresh):
            assert instance.get("/v1/whoami", headers=bearer(token)).status_code == 200
            jwt.decode(token, keys[kid_of(token)].key, algorithms=["EdDSA"], audience=AUDIENCE,
                       options={"verify_iss": False})

    # An hour and a minute later the old key's last token has expired.
    with db.write() as conn:
        conn.execute(
            signing_keys.update()
            .where(signing_keys.c.kid == old_kid)
            .values(rotated_at=utcnow() - KEY_RETENTION - timedelta(seconds=1))
        )
    later = instance_on(db, database_url)  # any instance once it re-reads its keys (VERIFY_KEYS_TTL)
    assert set(published(later)) == {new_kid}
    refused = later.get("/v1/whoami", headers=bearer(old))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert later.get("/v1/whoami", headers=bearer(fresh)).status_code == 200

    # The next rotation removes the expired key from the store for good.
    third_kid = rotate(database_url)
    with db.read() as conn:
        kept = set(conn.execute(sa.select(signing_keys.c.kid)).scalars())
    assert kept == {new_kid, third_kid}
    for instance in (first, second, later):
        instance.close()



def test_instances_starting_together_on_a_fresh_store_agree_on_one_signing_key(database_url):
    """A deployment rolls out several instances at once; each creates the first signing key if
    there is none. Exactly one must be created, or the JWKS carries keys nobody signs with."""
    instances = [Database(database_url) for _ in range(6)]
    start = threading.Barrier(len(instances))

    def first_start(database: Database) -> str:
        start.wait(timeout=30)
        return ensure_signing_key(database)

    with ThreadPoolExecutor(max_workers=len(instances)) as pool:
        kids = set(pool.map(first_start, instances, timeout=60))
    with instances[0].read() as conn:
        stored = set(conn.execute(sa.select(signing_keys.c.kid)).scalars())
    assert len(kids) == 1
    assert stored == kids
    for database in instances:
        database.dispose()
