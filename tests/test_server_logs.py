"""The log of a real `turris-api serve --log-format json`: an access line per request, a security
event for failed client authentication and throttling, and never a secret, token, JWT or hash."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.server_support import new_client, new_token
from tests.support.service import ServiceProcess
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.operator import bootstrap, issue_member_token
from turris_api.store.schema import api_clients

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def logged(tmp_path):
    """A service with a tight throttle, its store holding one client and one Restricted Access Token."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    bootstrap(db)
    store = LocalStore(db)
    created, token = new_client(store), new_token(store)
    member = issue_member_token(db, store.me().member.email)
    with db.read() as conn:
        secret_hash = conn.execute(sa.select(api_clients.c.secret_hash)).scalar()
    db.dispose()
    env = {"TURRIS_THROTTLE_PER_CLIENT_IP": "3"}
    process = ServiceProcess(url, "--log-format", "json", env=env).wait_ready()
    try:
        yield process, created, token, secret_hash, member
    finally:
        process.stop()


def lines_of(process: ServiceProcess) -> list[dict]:
    time.sleep(0.2)  # let the last lines reach the file
    return [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]


def test_failed_secrets_and_a_throttle_are_security_events_and_nothing_secret_is_logged(logged):
    process, created, token, secret_hash, member = logged
    client_id = created.client.client_id
    wrong = "trs_cs_" + "x" * 40
    with httpx.Client(base_url=process.url) as http:
        good = http.post("/oauth/token", data=GRANT, auth=(client_id, created.secret)).json()["access_token"]
        assert http.get("/v1/whoami", headers={"Authorization": f"Bearer {good}", "X-Request-Id": "req-7"}).status_code == 200
        assert http.get("/v1/whoami", headers={"Authorization": f"Bearer {token.value}"}).status_code == 200
        # From a peer that is not a trusted proxy: ignored, and said once.
        for _ in range(2):
            http.post("/oauth/token", data=GRANT, auth=(client_id, created.secret), headers={"X-Forwarded-For": "203.0.113.9"})
        statuses = [http.post("/oauth/token", data=GRANT, auth=(client_id, wrong)).status_code for _ in range(4)]
        made = http.post("/v1/api-clients", json={"name": "Made remotely"}, headers={"Authorization": f"Bearer {member}"})
    assert statuses == [401, 401, 401, 429]
    assert made.status_code == 201

    lines = lines_of(process)
    events = [line for line in lines if line["logger"] == "turris.security"]
    failed = [e for e in events if e["event"] == "client_authentication_failed"]
    throttled = [e for e in events if e["event"] == "throttled"]
    assert len(failed) == 3 and len(throttled) == 1
    for event in failed + throttled:
        assert event["credential"] == client_id
        assert event["client"] == "127.0.0.1" and event["path"] == "/oauth/token" and event["request_id"]

    access = [line for line in lines if line["logger"] == "turris.access"]
    whoami = next(line for line in access if line["request_id"] == "req-7")
    assert whoami | {"duration_ms": 0} == {**whoami, "method": "GET", "path": "/v1/whoami", "status": 200,
                                           "credential": client_id, "duration_ms": 0}
    assert isinstance(whoami["duration_ms"], float)
    assert any(line["status"] == 429 and line["credential"] == client_id for line in access)
    assert any(line.get("credential", "").startswith("restricted_token:") for line in access)

    proxy_warnings = [line for line in lines if "without --trusted-proxy" in line["message"]]
    assert len(proxy_warnings) == 1 and proxy_warnings[0]["level"] == "warning"

    changed = [e for e in events if e["event"] == "credential_changed"]
    assert [(e["method"], e["path"], e["credential"]) for e in changed] == [("POST", "/v1/api-clients", "member:1")]

    text = process.output()
    for value in (created.secret, wrong, good, token.value, secret_hash, good.split(".")[2], member,
                  made.json()["client_secret"]):
        assert value not in text
