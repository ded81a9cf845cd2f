"""A store opened on first use, so the app can paint before the store's libraries are even imported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from turris_api.store.errors import StoreError
from turris_api.store.interface import CredentialStore
from turris_api.store.models import (
    DEFAULT_OVERLAP,
    ApiClient,
    AuditEvent,
    ClientDraft,
    CreatedClient,
    CreatedToken,
    Me,
    Member,
    RestrictedToken,
    TokenDraft,
)


class LazyStore:
    """A CredentialStore that opens the real one (`opener`) on its first call, from whichever
    worker thread makes it. A failed open raises the store's error and is tried again on the next call."""

    def __init__(self, opener: Callable[[], CredentialStore], description: str) -> None:
        self._opener = opener
        self._store: CredentialStore | None = None
        self._lock = threading.Lock()
        self._failed: StoreError | None = None  # a background open's failure, for the next call to raise
        self.description = description  # until open: what the command line named

    def open_in_background(self) -> None:
        """Start opening now, in a thread of its own (the app imports and paints meanwhile); the first
        call waits for it and gets its error, if it failed, rather than trying a second time."""

        def opening() -> None:
            try:
                self.open()
            except StoreError as err:
                self._failed = err

        threading.Thread(target=opening, name="store-open", daemon=True).start()

    @property
    def warnings(self) -> list[str]:
        return self._store.warnings if self._store is not None else []

    def open(self) -> CredentialStore:
        store = self._store
        if store is None:
            with self._lock:
                failed, self._failed = self._failed, None
                if failed is not None:
                    raise failed
                if self._store is None:
                    self._store = self._opener()
                    self.description = self._store.description
                store = self._store
        return store

    def me(self) -> Me:
        return self.open().me()

    def list_clients(self) -> list[ApiClient]:
        return self.open().list_clients()

    def get_client(self, ref: str | int) -> ApiClient:
        return self.open().get_client(ref)

    def create_client(self, draft: ClientDraft) -> CreatedClient:
        return self.open().create_client(draft)

    def update_client(self, ref: str | int, draft: ClientDraft, version: int) -> ApiClient:
        return self.open().update_client(ref, draft, version)

    def delete_client(self, ref: str | int) -> None:
        self.open().delete_client(ref)

    def roll_client(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedClient:
        return self.open().roll_client(ref, keep_old_for)

    def end_old_client(self, ref: str | int) -> ApiClient:
        return self.open().end_old_client(ref)

    def list_tokens(self) -> list[RestrictedToken]:
        return self.open().list_tokens()

    def get_token(self, ref: str | int) -> RestrictedToken:
        return self.open().get_token(ref)

    def create_token(self, draft: TokenDraft) -> CreatedToken:
        return self.open().create_token(draft)

    def update_token(self, ref: str | int, draft: TokenDraft, version: int) -> RestrictedToken:
        return self.open().update_token(ref, draft, version)

    def delete_token(self, ref: str | int) -> None:
        self.open().delete_token(ref)

    def roll_token(self, ref: str | int, keep_old_for: str | int | timedelta = DEFAULT_OVERLAP) -> CreatedToken:
        return self.open().roll_token(ref, keep_old_for)

    def end_old_token(self, ref: str | int) -> RestrictedToken:
        return self.open().end_old_token(ref)

    def audit_events(self, limit: int = 50, before: int | None = None, credential_type: str | None = None,
                     credential_id: int | None = None) -> list[AuditEvent]:
        return self.open().audit_events(limit, before, credential_type, credential_id)

    def list_members(self) -> list[Member]:
        return self.open().list_members()

    def add_member(self, email: str, role: str, can_manage_credentials: bool, display_name: str = "") -> Member:
        return self.open().add_member(email, role, can_manage_credentials, display_name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
