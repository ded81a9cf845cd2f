"""The one bounded cache for verified credentials: an LRU keyed by a keyed digest of the secret.

Keys are HMACs under a per-process random key, so neither the cache nor a memory dump of its
keys holds a usable token, and its size is bounded however many distinct tokens are presented.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from turris_api.store import crypto

V = TypeVar("V")
DEFAULT_SIZE = 10_000


class VerifiedLru(Generic[V]):
    """Bounded, thread-safe LRU from digest(secret) to what checking that secret established."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._key = secrets.token_bytes(32)
        self._size = size
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, secret: str) -> str:
        return crypto.keyed_digest(self._key, secret)

    def get(self, digest: str) -> V | None:
        with self._lock:
            found = self._entries.get(digest)
            if found is not None:
                self._entries.move_to_end(digest)
            return found

    def remember(self, digest: str, value: V) -> None:
        with self._lock:
            self._entries[digest] = value
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)
