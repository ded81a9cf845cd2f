"""What one service instance holds: the verifier, its view of the signing keys, the issuer."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.requests import Request

from turris_api.server import logs, metrics
from turris_api.server.addresses import Address
from turris_api.server.edge import CLIENT_ADDRESS
from turris_api.server.keys import KeyMaterial, KeyRing
from turris_api.server.oauth import TokenIssuer
from turris_api.server.resources import Authenticator, BearerRefused, Principal
from turris_api.server.settings import ServiceSettings
from turris_api.server.token_status import TokenStatus
from turris_api.store.database import Database
from turris_api.store.errors import StoreError
from turris_api.store.verify import NeedsThread, Verifier

T = TypeVar("T")
HASHING_THREADS_SQLITE = 3  # per process; side by side: 1, 2, 3, 4 threads gave 2,170, 2,320, 2,485, 2,537 req/s
# with p99/p50 1.6, 2.2, 2.5, 3.0 (2 workers, 1,000 clients, 32 connections)
HASHING_THREADS_NETWORK = 8


class Service:
    """Everything one instance holds: the verifier, its view of the signing keys, the throttle."""

    def __init__(self, db: Database, settings: ServiceSettings) -> None:
        self.db = db
        self.settings = settings
        self.verifier = Verifier(db)
        self.material = KeyMaterial(settings.at_rest_key, settings.passphrase, settings.previous_at_rest_key)
        self.keys = KeyRing(db, settings.algorithm, self.material)
        self.issuer = TokenIssuer(self.verifier, self.keys, settings)
        self.authenticator = Authenticator(self.verifier, self.keys, settings)
        self.token_status = TokenStatus(self.issuer, self.authenticator, settings)
        # Few threads, first come first served: with anyio's 40, a token request's GIL hand-offs
        # (lookup, hash, signing) queue behind each other's and the event loop's, halving throughput
        # and tripling p99 (bench/). A network database's lookups wait on the wire, so it gets more.
        threads = HASHING_THREADS_SQLITE if db.is_sqlite else HASHING_THREADS_NETWORK
        self._hashing = ThreadPoolExecutor(threads, thread_name_prefix="turris-hashing")

    async def hashing(self, work: Callable[..., T], *args) -> T:
        """`work(*args)` (an argon2 check, a lookup) on a hashing thread, so the event loop never waits for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hashing, contextvars.copy_context().run, work, *args)

    @staticmethod
    def address(request: Request) -> Address | None:
        """The caller's address, as the edge worked it out (the socket peer, or what trusted proxies say)."""
        return request.scope["state"][CLIENT_ADDRESS]

    async def principal(self, request: Request, method: str | None = None, path: str | None = None) -> Principal:
        """Who presented the request's bearer credential, judged as `method path` (by default the
        request itself; forward-auth passes the proxied request's)."""
        try:
            found = await self._principal(request, method, path)
        except BearerRefused as refused:
            result = refused.reason or refused.error or "missing"
            metrics.child(metrics.AUTHORIZATIONS, result).inc()
            logs.security_event("bearer_refused", status=refused.status, error=refused.error, reason=refused.reason)
            raise
        except StoreError:
            metrics.child(metrics.AUTHORIZATIONS, "unavailable").inc()
            raise
        metrics.child(metrics.AUTHORIZATIONS, "ok").inc()
        logs.note_credential(found.client_id or f"restricted_token:{found.id}")
        return found

    async def _principal(self, request: Request, method: str | None, path: str | None) -> Principal:
        args = (
            request.headers,
            self.address(request),
            method or request.method,
            request.scope["path"] if path is None else path,
        )
        if self.db.is_sqlite:
            # An SQLite (WAL) read never waits for a writer and costs less than the hop to a worker
            # thread; hashing or writing still goes to one. A network database always does.
            try:
                return self.authenticator.authenticate(*args, blocking=False)
            except NeedsThread:
                pass
        return await self.hashing(self.authenticator.authenticate, *args)
