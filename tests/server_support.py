"""Helpers for the service tests: the app in-process, the app under a real uvicorn, credentials."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from turris_api.server.api import create_app
from turris_api.server.run import uvicorn_options
from turris_api.server.settings import ServiceSettings
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, CreatedClient, CreatedToken, TokenDraft

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette nudges towards httpx2; httpx is what we ship
    from starlette.testclient import TestClient


def in_process(db: Database, settings: ServiceSettings | None = None, peer: str = "127.0.0.1") -> TestClient:
    """The real app, called in-process; `peer` is the socket address the app sees."""
    return TestClient(create_app(db, settings), client=(peer, 40000), raise_server_exceptions=False)


def new_client(store: LocalStore, name: str = "Warehouse loader", origins: str = "") -> CreatedClient:
    return store.create_client(ClientDraft(name=name, allowed_origins=origins))


def new_token(store: LocalStore, name: str = "Partner portal", ips: str = "127.0.0.1") -> CreatedToken:
    return store.create_token(TokenDraft(name=name, allowed_ips=ips))


def fetch_jwt(client, created: CreatedClient) -> str:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client.client_id, created.secret)
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(app_for: Callable[[str], object], host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app_for(base_url)` under uvicorn on a free loopback port, with the options `serve` uses."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    app = app_for(f"http://{host}:{port}")
    options = uvicorn_options(host, port)
    options["log_level"] = "warning"
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def settings_for(base_url: str, **overrides) -> ServiceSettings:
    return ServiceSettings(issuer=base_url, **overrides)
