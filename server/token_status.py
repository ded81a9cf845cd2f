"""Token introspection (RFC 7662) and revocation (RFC 7009), for API Clients.

The caller authenticates as at the token endpoint. It learns only about tokens of its own
organization; anything else is `{"active": false}`, the same answer as for a token that never
existed, so introspection cannot probe other organizations.
"""

from __future__ import annotations

from collections.abc import Mapping

from turris_api.server.addresses import Address
from turris_api.server.oauth import Refused, TokenIssuer, TokenReply, guarded, oauth_error
from turris_api.server.resources import Authenticator, BearerRefused
from turris_api.server.settings import ServiceSettings
from turris_api.store import crypto
from turris_api.store.models import VerifiedClient

TOKEN_MAX = 8 * 1024
INACTIVE = {"active": False}


class TokenStatus:
    def __init__(self, issuer: TokenIssuer, authenticator: Authenticator, settings: ServiceSettings) -> None:
        self.issuer = issuer
        self.authenticator = authenticator
        self.settings = settings

    def introspect(self, headers: Mapping[str, str], body: bytes, address: Address | None) -> TokenReply:
        return guarded(self._introspect, headers, body, address)

    def revoke(self, headers: Mapping[str, str], body: bytes, address: Address | None) -> TokenReply:
        return guarded(self._revoke, headers, body, address)

    def _token(self, headers, body, address) -> tuple[VerifiedClient, str]:
        caller, params = self.issuer.authenticated(headers, body, address)
        token = params.get("token", "")
        if not token:
            raise Refused(oauth_error(400, "invalid_request", "Send the token to look at in the `token` parameter."))
        return caller, token

    def _introspect(self, headers, body, address) -> TokenReply:
        caller, token = self._token(headers, body, address)
        if len(token) > TOKEN_MAX:
            return TokenReply(200, INACTIVE)
        if token.startswith(crypto.RESTRICTED_TOKEN_PREFIX):
            return TokenReply(200, self._restricted(caller, token))
        return TokenReply(200, self._jwt(caller, token))

    def _jwt(self, caller: VerifiedClient, token: str) -> dict:
        try:
            claims, client, _ = self.authenticator.jwt_client(token)
        except BearerRefused:
            return INACTIVE
        if client.organization_id != caller.organization_id:
            return INACTIVE
        return {
            "active": True,
            "token_type": "Bearer",
            "credential_type": "api_client",
            "client_id": client.client_id,
            "sub": client.client_id,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "exp": int(claims.expires),
            "iat": int(claims.issued),
            "jti": claims.jti,
            "organization": {"id": client.organization_id, "name": client.organization_name},
        }

    def _restricted(self, caller: VerifiedClient, token: str) -> dict:
        found = self.authenticator.verifier.verify_restricted_token(token)
        if found is None or found.organization_id != caller.organization_id:
            return INACTIVE
        # No client_id, exp or jti: a Restricted Access Token is static and belongs to no client.
        return {
            "active": True,
            "token_type": "Bearer",
            "credential_type": "restricted_token",
            "sub": f"restricted_token:{found.id}",
            "organization": {"id": found.organization_id, "name": found.organization_name},
        }

    def _revoke(self, headers, body, address) -> TokenReply:
        caller, token = self._token(headers, body, address)
        # Only a JWT this very client was issued; anything else is answered 200 and left alone (RFC 7009 2.2).
        if len(token) <= TOKEN_MAX and not token.startswith(crypto.RESTRICTED_TOKEN_PREFIX):
            try:
                claims = self.authenticator.claims(token)
            except BearerRefused:
                claims = None
            if claims is not None and claims.client_id == caller.client_id:
                self.authenticator.verifier.revoke_jwt(claims.jti, caller, claims.expires + self.settings.jwt_leeway)
        return TokenReply(200, {})
