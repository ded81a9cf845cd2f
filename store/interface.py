"""The one store interface the app, the CLI and the service talk to."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from turris_api.store.models import (
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


@runtime_checkable
class CredentialStore(Protocol):
    """Acts as one member. Every method enforces the policy and raises the StoreError family.

    `ref` is the internal id (digits) or, for API Clients, the Client ID, for members the email. Updates carry the
    version the caller last saw; a stale one raises Conflict.
    """

    description: str  # where the store lives, for a status line
    warnings: list[str]  # what its operator should know (a store file other users can read)

    def me(self) -> Me: ...

    def list_clients(self) -> list[ApiClient]: ...
    def get_client(self, ref: str | int) -> ApiClient: ...
    def create_client(self, draft: ClientDraft) -> CreatedClient: ...
    def update_client(self, ref: str | int, draft: ClientDraft, version: int) -> ApiClient: ...
    def delete_client(self, ref: str | int) -> None: ...

    def list_tokens(self) -> list[RestrictedToken]: ...
    def get_token(self, ref: str | int) -> RestrictedToken: ...
    def create_token(self, draft: TokenDraft) -> CreatedToken: ...
    def update_token(self, ref: str | int, draft: TokenDraft, version: int) -> RestrictedToken: ...
    def delete_token(self, ref: str | int) -> None: ...

    def audit_events(self, limit: int = 50) -> list[AuditEvent]: ...
    def list_members(self) -> list[Member]: ...
    def add_member(self, email: str, role: str, can_manage_credentials: bool, display_name: str = "") -> Member: ...
    def update_member(self, ref: str | int, role: str | None = None,
                      can_manage_credentials: bool | None = None) -> Member: ...
    def remove_member(self, ref: str | int) -> None: ...  # revokes their member access tokens too

    def close(self) -> None: ...  # release connections; the store is not used afterwards
