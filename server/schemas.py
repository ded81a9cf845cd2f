"""The service's JSON shapes. Public views have no field that could hold a secret; Created* carry it once."""


from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from turris_api.store import models, validation

VERSION_MAX = 2**31 - 1
Listish = str | list[str]
Expires = str | None  # checked by the store, which words any refusal


class ErrorOut(BaseModel):
    """Every management and resource error: a stable code, a message fit to show, the field at fault."""

    error: str = Field(description="Stable machine code, e.g. invalid, permission_denied, not_found, conflict.")
    message: str = Field(description="What went wrong, in words a person can act on.")
    field: str | None = Field(default=None, description="The input field at fault, for `invalid`.")
    value: str | None = Field(default=None, description="The offending value, for `invalid`.")


class OAuthErrorOut(BaseModel):
    """RFC 6749 section 5.2."""

    error: str
    error_description: str | None = None


class TokenOut(BaseModel):
    """RFC 6749 section 5.1; no refresh token for client credentials."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int


class OrganizationRef(BaseModel):
    id: int
    name: str


class WhoAmIOut(BaseModel):
    type: Literal["api_client", "restricted_token"]
    name: str
    client_id: str | None = Field(default=None, description="For API Clients.")
    organization: OrganizationRef


class OrganizationOut(BaseModel):
    id: int
    name: str
    api_access: bool
    max_lifetime_days: int | None = None


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    email: str
    display_name: str
    role: str
    can_manage_credentials: bool


class MeOut(BaseModel):
    member: MemberOut
    organization: OrganizationOut
    can_view: bool
    can_manage_clients: bool
    can_manage_tokens: bool
    sees_credential_controls: bool

    @classmethod
    def of(cls, me: models.Me) -> "MeOut":
        return cls(
            member=MemberOut.model_validate(me.member),
            organization=OrganizationOut(
                id=me.organization.id, name=me.organization.name, api_access=me.organization.api_access,
                max_lifetime_days=me.organization.max_lifetime_days,
            ),
            can_view=me.can_view,
            can_manage_clients=me.can_manage_clients,
            can_manage_tokens=me.can_manage_tokens,
            sees_credential_controls=me.sees_credential_controls,
        )


class ApiClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    client_id: str
    secret_last4: str
    allowed_origins: list[str]
    status: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    last_used_at: datetime | None = None
    old_secret_last4: str | None = Field(default=None, description="The previous secret of a roll, while it works.")
    old_secret_expires_at: datetime | None = None
    expires_at: datetime | None = None


class CreatedClientOut(ApiClientOut):
    """The API Client's shape plus its secret, in the create answer only."""

    client_secret: str = Field(description="The Client Secret. Shown this once; only its hash is kept.")


class RestrictedTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    token_last4: str
    allowed_ips: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int
    last_used_at: datetime | None = None
    old_token_last4: str | None = Field(default=None, description="The previous value of a roll, while it works.")
    old_token_expires_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_ip: str | None = None


class CreatedTokenOut(RestrictedTokenOut):
    """The token's shape plus its value, in the create answer only."""

    token: str = Field(description="The Restricted Access Token. Shown this once; only its hash is kept.")


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    credential_type: str
    credential_id: int
    credential_name: str
    detail: str = ""


class ClientDraftIn(BaseModel):
    name: str = Field(description="Client Name.")
    description: str = ""
    allowed_origins: Listish = Field(default="", description="Origins, as a list or comma-separated.")
    expires: Expires = None

    def draft(self) -> models.ClientDraft:
        return models.ClientDraft(name=self.name, description=self.description, allowed_origins=self.allowed_origins,
                                  expires=self.expires)


class ClientUpdateIn(ClientDraftIn):
    version: int = Field(ge=0, le=VERSION_MAX, description="The version this change is based on.")


class TokenDraftIn(BaseModel):
    name: str = Field(description="Token Name.")
    allowed_ips: Listish = Field(description="Addresses or CIDR ranges, as a list or comma-separated.")
    expires: Expires = None

    def draft(self) -> models.TokenDraft:
        return models.TokenDraft(name=self.name, allowed_ips=self.allowed_ips, expires=self.expires)


class RollIn(BaseModel):
    keep_old_for_seconds: int = Field(default=int(models.DEFAULT_OVERLAP.total_seconds()),
                                      description="How long the current value keeps working (0 ends it now; "
                                                  f"at most {validation.OVERLAP_MAX.days} days).")


class TokenUpdateIn(TokenDraftIn):
    version: int = Field(ge=0, le=VERSION_MAX, description="The version this change is based on.")


class MemberDraftIn(BaseModel):
    # Control characters never make a valid address; refusing them here keeps them away from the driver.
    email: str = Field(max_length=254, pattern=r"^[^\x00-\x20\x7f@]+@[^\x00-\x20\x7f@]+$")
    role: str
    can_manage_credentials: bool
    display_name: str = ""


class MemberUpdateIn(BaseModel):
    """Only what is given changes."""

    role: str | None = None
    can_manage_credentials: bool | None = None
