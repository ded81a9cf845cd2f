"""Domain shapes. Public views have no field that could hold a secret; only Created* carry one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ACTIVE = "active"
DISABLED = "disabled"
EXPIRED = "expired"  # shown, never stored: a credential past its expires_at
CLIENT_STATUSES = (ACTIVE, DISABLED)  # active may get tokens; disabled may not (the support desk's lever)
DEFAULT_OVERLAP = timedelta(hours=24)  # how long a rolled credential's previous value works, unless told
ADMIN = "admin"
DEVELOPER = "developer"
# What an audit event is about (AuditEvent.credential_type), and the actor of changes made with access
# to the database itself rather than as a member.
API_CLIENT = "api_client"
RESTRICTED_TOKEN = "restricted_token"  # noqa: S105 (a type name)
MEMBER = "member"
MEMBER_TOKEN = "member_token"  # noqa: S105 (a type name)
ORGANIZATION = "organization"
SIGNING_KEY = "signing_key"
OPERATOR = "operator"


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    api_access: bool
    max_lifetime_days: int | None = None  # the policy's cap on a credential's lifetime


@dataclass(frozen=True)
class Member:
    id: int
    organization_id: int
    email: str
    display_name: str
    role: str
    can_manage_credentials: bool


@dataclass(frozen=True)
class ApiClient:
    """An API Client as anyone may see it: the secret is represented by its last four only."""

    id: int
    name: str
    description: str
    client_id: str
    secret_last4: str
    allowed_origins: tuple[str, ...]
    status: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    last_used_at: datetime | None = None
    old_secret_last4: str | None = None  # the previous secret of a roll, working until old_secret_expires_at
    old_secret_expires_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def old_until(self, now: datetime) -> datetime | None:
        """When the previous secret stops working, if it still works at `now`."""
        return _open_until(self.old_secret_last4, self.old_secret_expires_at, now)

    def shown_status(self, now: datetime) -> str:
        return EXPIRED if is_expired(self.expires_at, now) else self.status


@dataclass(frozen=True)
class RestrictedToken:
    """A Restricted Access Token as anyone may see it."""

    id: int
    name: str
    token_last4: str
    allowed_ips: tuple[str, ...]
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    last_used_at: datetime | None = None
    old_token_last4: str | None = None  # the previous value of a roll, working until old_token_expires_at
    old_token_expires_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_ip: str | None = None  # where it was last used from

    def old_until(self, now: datetime) -> datetime | None:
        """When the previous value stops working, if it still works at `now`."""
        return _open_until(self.old_token_last4, self.old_token_expires_at, now)

    def shown_status(self, now: datetime) -> str:
        return EXPIRED if is_expired(self.expires_at, now) else ACTIVE


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def _open_until(last4: str | None, until: datetime | None, now: datetime) -> datetime | None:
    return until if last4 is not None and until is not None and until > now else None


@dataclass(frozen=True)
class CreatedClient:
    """The result of creating an API Client: the only object that ever holds the secret."""

    client: ApiClient
    secret: str = field(repr=False)


@dataclass(frozen=True)
class CreatedToken:
    """The result of creating a Restricted Access Token: the only object that ever holds it."""

    token: RestrictedToken
    value: str = field(repr=False)


@dataclass(frozen=True)
class CreatedMemberToken:
    """The result of issuing a member access token: the only object that ever holds it."""

    token: MemberToken
    value: str = field(repr=False)


@dataclass(frozen=True)
class ClientDraft:
    """What a person typed for an API Client; the store validates it."""

    name: str
    description: str = ""
    allowed_origins: str | Sequence[str] = ""
    expires: str | datetime | None = None  # "90d", "2027-03-31", a datetime, or None for never


@dataclass(frozen=True)
class TokenDraft:
    """What a person typed for a Restricted Access Token; the store validates it."""

    name: str
    allowed_ips: str | Sequence[str] = ""
    expires: str | datetime | None = None  # as for ClientDraft


@dataclass(frozen=True)
class MemberToken:
    """A member access token as the operator may see it: never the token, only its last four."""

    id: int
    member_id: int
    member_email: str
    organization_id: int
    token_last4: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One change. The credential_* fields name what changed, credential or not (the column names
    predate records about members, the plan and signing keys)."""

    id: int
    at: datetime
    actor: str  # a member's email, or "operator"
    action: str  # create | update | delete | set_status | roll | end_old | add | remove | set_role | issue | revoke
    #            | set_plan | set_policy | rotate
    credential_type: str  # api_client | restricted_token | member | member_token | organization | signing_key
    credential_id: int  # 0 for a signing key (its kid is the name)
    credential_name: str
    detail: str = ""  # what changed, in words, e.g. "role developer -> admin"


@dataclass(frozen=True)
class Me:
    """Who the store is acting as, in which organization."""

    member: Member
    organization: Organization

    @property
    def can_view(self) -> bool:
        from turris_api.store import policy

        return policy.can_view(self)

    @property
    def can_manage_clients(self) -> bool:
        from turris_api.store import policy

        return policy.can_manage_clients(self)

    @property
    def can_manage_tokens(self) -> bool:
        from turris_api.store import policy

        return policy.can_manage_tokens(self)

    @property
    def sees_credential_controls(self) -> bool:
        """View Docs, Run in Postman and Add New show for anyone holding the permission."""
        return self.can_view and self.member.can_manage_credentials


@dataclass(frozen=True)
class VerifiedClient:
    """An API Client whose secret was just checked (for the token endpoint)."""

    id: int
    client_id: str
    name: str
    organization_id: int
    organization_name: str
    not_before: int | None = None  # epoch seconds; JWTs issued (iat) before it are refused


@dataclass(frozen=True)
class VerifiedToken:
    """A Restricted Access Token that was just checked, with its current IP rules."""

    id: int
    name: str
    organization_id: int
    organization_name: str
    allowed_ips: tuple[str, ...]
