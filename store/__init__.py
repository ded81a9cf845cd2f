"""Credentials: domain, policy, persistence. Never imports the UI."""

from store.database import Database, default_url
from store.errors import Conflict, Invalid, NotFound, PermissionDenied, StoreError, Unavailable
from store.interface import CredentialStore
from store.local import LocalStore

__all__ = [
    "Conflict",
    "CredentialStore",
    "Database",
    "Invalid",
    "LocalStore",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "Unavailable",
    "default_url",
]
