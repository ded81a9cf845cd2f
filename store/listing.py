"""What the API page lists for a member: one round of store calls, shared by the page and start-up."""

from __future__ import annotations

from turris_api.store.interface import CredentialStore
from turris_api.store.models import ApiClient, Me, RestrictedToken

Listing = tuple[list[ApiClient], list[RestrictedToken]]


def fetch_listing(store: CredentialStore, me: Me) -> Listing:
    """What the API page shows for `me` (a store call: run it in a worker)."""
    if not me.can_view:
        return [], []
    return store.list_clients(), store.list_tokens()
