"""The app and the service on one SQLite file at once (WAL, busy timeout, immediate write
transactions): under concurrent writes from both processes nobody meets "database is locked",
every check stays correct, and every acknowledged change is there exactly once."""

from __future__ import annotations

import threading

import httpx
import pytest
import sqlalchemy as sa

from tests.support.service import services
from turris_api.store.database import Database
from turris_api.store.errors import Unavailable
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.operator import bootstrap, issue_member_token
from turris_api.store.schema import api_clients, audit_events

ROUNDS = 15


@pytest.mark.slow
def test_the_app_and_the_service_write_one_sqlite_file_at_once(sqlite_url):
    setup = Database(sqlite_url)
    bootstrap(setup)
    admin = LocalStore(setup)
    target = admin.create_client(ClientDraft(name="Token target"))
    member = {"Authorization": f"Bearer {issue_member_token(setup, admin.me().member.email)}"}
    acknowledged: list[str] = []
    refusals: list[str] = []
    token_answers: list[tuple[bool, int]] = []

    with services(sqlite_url) as [service]:

        def service_writes(worker: int) -> None:
            with httpx.Client(base_url=service.url, timeout=30) as http:
                for i in range(ROUNDS):
                    name = f"svc-{worker}-{i}"
                    response = http.post("/v1/api-clients", json={"name": name}, headers=member)
                    if response.status_code == 201:
                        acknowledged.append(name)
                    else:
                        refusals.append(f"{response.status_code} {response.headers.get('Retry-After')} {response.text}")

        def token_requests() -> None:
            with httpx.Client(base_url=service.url, timeout=30) as http:
                for i in range(ROUNDS * 2):
                    right = i % 3 != 0
                    secret = target.secret if right else target.secret[:-1] + "x"
                    response = http.post(
                        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(target.client.client_id, secret)
                    )
                    token_answers.append((right, response.status_code))

        def app_writes() -> None:  # the terminal app, in this process, on its own engine
            app_db = Database(sqlite_url)
            store = LocalStore(app_db)
            for i in range(ROUNDS):
                name = f"app-{i}"
                try:
                    store.create_client(ClientDraft(name=name))
                    acknowledged.append(name)
                except Unavailable as err:
                    refusals.append(str(err))
            app_db.dispose()

        threads = [threading.Thread(target=service_writes, args=(w,)) for w in range(3)]
        threads += [threading.Thread(target=token_requests), threading.Thread(target=app_writes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        log = service.output()

    # A busy file may refuse retryably (503 with Retry-After / "Try again"), never with driver text.
    for refusal in refusals:
        assert "locked" not in refusal and "Traceback" not in refusal, refusal
        assert refusal.startswith("503 ") or "Try again" in refusal, refusal
    assert len(acknowledged) + len(refusals) == ROUNDS * 4
    assert len(acknowledged) >= ROUNDS * 2, refusals  # contention, not an outage
    # Checks never fail open: a wrong secret is never a token; a right one is a token or a 503.
    assert all(status in (401, 429, 503) for right, status in token_answers if not right), token_answers
    assert all(status in (200, 503) for right, status in token_answers if right), token_answers
    # Exactly the acknowledged creates exist, each with one audit record.
    with setup.read() as conn:
        stored = sorted(conn.execute(sa.select(api_clients.c.name).where(api_clients.c.name != "Token target")).scalars())
        audited = sorted(
            conn.execute(
                sa.select(audit_events.c.credential_name).where(
                    audit_events.c.action == "create", audit_events.c.credential_name != "Token target"
                )
            ).scalars()
        )
    assert stored == sorted(acknowledged) == audited
    assert "database is locked" not in log and "Traceback" not in log
    setup.dispose()
