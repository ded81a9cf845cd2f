"""Credentials as an organization really has them: long names alike, several origins and IPs."""

from __future__ import annotations

from turris_api.store.local import LocalStore
from turris_api.store.models import ClientDraft, TokenDraft

ORIGINS = "https://app.example.com, https://admin.example.com, https://staging.example.com"
IPS = "203.0.113.10, 198.51.100.0/24, 192.0.2.7"

# 30-character names, three of them alike but for their end.
CLIENTS = (
    ("Warehouse loader — nightly EU", "Loads EU orders into the warehouse each night", ORIGINS),
    ("Warehouse loader — nightly US", "Loads US orders into the warehouse each night", ORIGINS),
    ("Warehouse loader — nightly AP", "", "https://ap.example.com"),
    ("Policy administration sync 01", "Nightly policy export to the admin system", ""),
)
DISABLED = "Warehouse loader — nightly US"
TOKENS = (
    ("Partner portal — production 1", IPS),
    ("Partner portal — production 2", "203.0.113.10"),
    ("Kiosk in the Lisbon branch 001", IPS),
)


def add_realistic_credentials(store: LocalStore) -> None:
    """The clients and tokens above, one client disabled; `store` acts as someone who may create them."""
    for name, description, origins in CLIENTS:
        store.create_client(ClientDraft(name, description, origins))
    for name, ips in TOKENS:
        store.create_token(TokenDraft(name, ips))
    disabled = next(c for c in store.list_clients() if c.name == DISABLED)
    store.set_client_status(disabled.id, "disabled")
