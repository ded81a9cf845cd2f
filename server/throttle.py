"""Counting failed token requests, so guessing is slowed down before any hashing happens.

The per-client counter is keyed by (Client ID, source address), with a wider per-address
counter beside it: an attacker can slow down their own guesses but cannot lock the real
integration out from its own address. Counters live in this process and are bounded; behind
a balancer each instance counts on its own, so the effective limit scales with the instances.
This is a brake, not the boundary: secrets carry 256 random bits.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict

from turris_api.server.addresses import Address

MAX_KEYS = 100_000


class FailureCounter:
    """Fixed windows per key; the oldest keys are forgotten first when the table is full."""

    def __init__(self, limit: int, window: float, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._entries: OrderedDict[object, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: object, now: float | None = None) -> int:
        """Seconds until the key may try again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0
            started, count = entry
            if now - started >= self.window:
                del self._entries[key]
                return 0
            if count < self.limit:
                return 0
            return max(1, math.ceil(self.window - (now - started)))

    def fail(self, key: object, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            started, count = self._entries.get(key, (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            self._entries[key] = (started, count + 1)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def forget(self, key: object) -> None:
        with self._lock:
            self._entries.pop(key, None)


def address_key(address: Address | None) -> str:
    """IPv6 clients get a /64 each, so one host cannot dodge the counter by hopping addresses."""
    if address is None:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class TokenThrottle:
    def __init__(self, per_client_address: int, per_address: int, window: float) -> None:
        self._by_client_address = FailureCounter(per_client_address, window)
        self._by_address = FailureCounter(per_address, window)

    def retry_after(self, client_id: str, address: Address | None) -> int:
        where = address_key(address)
        return max(self._by_address.retry_after(where), self._by_client_address.retry_after((client_id, where)))

    def failed(self, client_id: str, address: Address | None) -> None:
        where = address_key(address)
        self._by_address.fail(where)
        self._by_client_address.fail((client_id, where))

    def succeeded(self, client_id: str, address: Address | None) -> None:
        self._by_client_address.forget((client_id, address_key(address)))
