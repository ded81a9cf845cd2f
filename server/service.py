"""What one service instance holds: the verifier, its view of the signing keys, the issuer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request

from turris_api.server import logs, metrics
from turris_api.server.addresses import Address
from turris_api.server.edge import CLIENT_ADDRESS
from turris_api.server.handoff import BatchingThreads
from turris_api.server.keys import KeyMaterial, KeyRing
from turris_api.server.oauth import TokenIssuer
from turris_api.server.resources import Authenticator, BearerRefused, Principal
from turris_api.server.settings import ServiceSettings
from turris_api.server.token_status import TokenStatus
from turris_api.store.database import Database
from turris_api.store.errors import StoreError
from turris_api.store.verify import NeedsThread, Verifier

T = TypeVar("T")
# Per process. On SQLite the threads only hash (lookups run on the loop): 2 threads in batches beat
# 3 handed one job at a time by 1.15-1.25x, and 1 thread by 1.06x (bench/, 1 and 2 workers).
HASHING_THREADS_SQLITE = 2
# Jobs a thread takes at once: 4 kept the throughput of 8 or 64 with p99/p50 2.2 instead of 2.4-2.9
# (a thread holding a long batch leaves the other idle); 2 lost 6%.
HASHING_BATCH = 4
HASHING_THREADS_NETWORK = 8  # a network database's lookups wait on the wire: one job at a time each


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
        # Few threads: with anyio's 40, a token request's GIL hand-offs queue behind each other's
        # and the event loop's, halving throughput and tripling p99 (bench/).
        if db.is_sqlite:
            self._hashing = BatchingThreads(HASHING_THREADS_SQLITE, "turris-hashing", batch=HASHING_BATCH)
        else:
            self._hashing = BatchingThreads(HASHING_THREADS_NETWORK, "turris-hashing", batch=1)

    async def hashing(self, work: Callable[..., T], *args) -> T:
        """`work(*args)` (an argon2 check, a lookup) on a hashing thread, so the event loop never waits for it."""
        return await self._hashing.run(work, *args)

    async def lookup(self, work: Callable[..., T], *args) -> T:
        """`work(*args)`, a store read: right here on SQLite (a WAL read never waits for a writer, and
        costs less than the hop to a thread), on a hashing thread for a network database."""
        if self.db.is_sqlite:
            return work(*args)
        return await self.hashing(work, *args)

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
