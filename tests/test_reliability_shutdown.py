"""SIGTERM under load (a rolling deploy): requests in flight complete, new connections are
refused, and nothing is half-written."""

from __future__ import annotations

import signal
import socket
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.support.service import services
from turris_api.store.database import Database
from turris_api.store.local import API_CLIENT, LocalStore
from turris_api.store.models import ClientDraft
from turris_api.store.operator import bootstrap, issue_member_token
from turris_api.store.schema import api_clients, audit_events

LOAD_THREADS = 4


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.slow
def test_sigterm_under_load_completes_in_flight_refuses_new_and_leaves_nothing_half_written(database_url):
    db = Database(database_url)
    bootstrap(db)
    admin = LocalStore(db)
    made = admin.create_client(ClientDraft(name="Slow uploader"))
    member = {"Authorization": f"Bearer {issue_member_token(db, admin.me().member.email)}"}

    with services(database_url) as [service]:
        # In flight: a token request whose body is still arriving when SIGTERM comes.
        first_part_sent, release = threading.Event(), threading.Event()
        slow: dict[str, httpx.Response] = {}

        def body():
            yield b"grant_type=client_"
            first_part_sent.set()
            release.wait(20)
            yield b"credentials"

        def send_slowly() -> None:
            slow["response"] = httpx.post(
                f"{service.url}/oauth/token",
                content=body(),
                auth=(made.client.client_id, made.secret),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=30,
            )

        # Load: creates over fresh connections until the service stops taking them.
        outcomes: list[tuple[str, object]] = []

        def load(worker: int) -> None:
            for i in range(500):  # bounded; the SIGTERM comes long before
                name = f"load-{worker}-{i}"
                try:
                    response = httpx.post(
                        f"{service.url}/v1/api-clients", json={"name": name}, headers=member, timeout=30
                    )
                except httpx.ConnectError:
                    outcomes.append((name, "refused"))
                    return
                except httpx.TransportError as err:  # accepted by the kernel, closed before it was read
                    outcomes.append((name, type(err).__name__))
                    return
                outcomes.append((name, response.status_code))

        slow_thread = threading.Thread(target=send_slowly)
        slow_thread.start()
        assert first_part_sent.wait(10)
        time.sleep(0.3)  # ordering only: let the service start reading that request
        loaders = [threading.Thread(target=load, args=(w,)) for w in range(LOAD_THREADS)]
        for thread in loaders:
            thread.start()
        deadline = time.monotonic() + 30
        while sum(1 for _, status in outcomes if status == 201) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)

        service.terminate()
        for _ in range(100):  # bounded wait for the listener to close
            if refuses_connections(service.port):
                break
            time.sleep(0.05)
        assert refuses_connections(service.port), "still accepting connections after SIGTERM"
        release.set()
        slow_thread.join(timeout=30)
        for thread in loaders:
            thread.join(timeout=30)
        # uvicorn re-raises the signal once shut down: the exit of a clean stop on SIGTERM.
        assert service.wait(timeout=30) in (0, -signal.SIGTERM)
        log = service.output()

    # The request in flight was served in full.
    assert slow["response"].status_code == 200, slow["response"].text
    assert slow["response"].json()["token_type"] == "Bearer"
    # Every load request either completed or was refused at the door.
    statuses = {status for _, status in outcomes}
    assert statuses <= {201, "refused", "RemoteProtocolError", "ReadError"}, statuses
    assert "refused" in statuses
    assert sum(1 for _, status in outcomes if status == 201) >= 10
    # Nothing lost, nothing half-written: exactly the acknowledged creates exist, each audited once.
    acknowledged = sorted(name for name, status in outcomes if status == 201)
    with db.read() as conn:
        stored = sorted(conn.execute(sa.select(api_clients.c.name).where(api_clients.c.name.like("load-%"))).scalars())
        audited = sorted(
            conn.execute(
                sa.select(audit_events.c.credential_name).where(
                    audit_events.c.action == "create",
                    audit_events.c.credential_type == API_CLIENT,
                    audit_events.c.credential_name.like("load-%"),
                )
            ).scalars()
        )
    assert stored == acknowledged
    assert audited == acknowledged
    assert "Finished server process" in log
    assert "Traceback" not in log
    assert made.secret not in log
    db.dispose()
