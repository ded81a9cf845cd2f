"""`turris-api serve`'s configuration: one object, built once from flags > environment (TURRIS_*)
> an optional TOML file, validated before anything starts, then handed down.

This is the only module of the service that reads the environment; the app itself gets the
`ServiceSettings` derived from it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, TomlConfigSettingsSource

from turris_api.server.connection import HEAD_LIMIT, READ_TIMEOUT
from turris_api.server.keys import ACCESS_TOKEN_LIFETIME, ALGORITHMS
from turris_api.server.settings import (
    DEFAULT_AUDIENCE,
    DEFAULT_RESTRICTED_ENDPOINTS,
    ServiceSettings,
    endpoint_rules,
    parse_networks,
)
from turris_api.store.errors import Invalid, StoreError
from turris_api.store.validation import shown

CONFIG_FILE_ENV = "TURRIS_CONFIG_FILE"
SECRET_FIELDS = ("secret_key", "previous_secret_key", "signing_key_passphrase")


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class ServeConfig(BaseSettings):
    """Everything `serve` can be told; each field is also TURRIS_<NAME> and a key of the TOML file."""

    model_config = SettingsConfigDict(env_prefix="TURRIS_", extra="forbid", frozen=True)

    db_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    trusted_proxies: CommaList = []
    issuer: str = ""  # default http://HOST:PORT; set it whenever clients reach the service by another name
    audience: str = DEFAULT_AUDIENCE
    restricted_endpoints: CommaList = list(DEFAULT_RESTRICTED_ENDPOINTS)
    signing_algorithm: Literal[ALGORITHMS] = "EdDSA"  # type: ignore[valid-type]
    secret_key: SecretStr | None = None  # 32 bytes, base64: encrypts the signing keys at rest
    secret_key_file: Path | None = None  # default: signing.key beside an SQLite store
    previous_secret_key: SecretStr | None = None  # while rotating the at-rest key: opens, never seals
    signing_key_passphrase: SecretStr | None = None  # older keys encrypted with a passphrase
    token_lifetime: int = Field(ACCESS_TOKEN_LIFETIME, ge=60, le=86_400)
    jwt_leeway: int = Field(10, ge=0, le=300)
    token_body_limit: int = Field(4 * 1024, ge=1024, le=1024 * 1024)
    body_limit: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    bearer_limit: int = Field(8 * 1024, ge=256, le=64 * 1024)
    head_limit: int = Field(HEAD_LIMIT, ge=4 * 1024, le=1024 * 1024)
    read_timeout: float = Field(READ_TIMEOUT, gt=0, le=300)
    keep_alive_timeout: float = Field(5.0, gt=0, le=300)
    throttle_window: int = Field(60, ge=1, le=86_400)
    throttle_per_client_ip: int = Field(10, ge=1)
    throttle_per_ip: int = Field(50, ge=1)
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    _parse_lists = field_validator("trusted_proxies", "restricted_endpoints", mode="before")(_comma_list)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        sources = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @classmethod
    def load(cls, flags: dict[str, Any], config_file: str | Path | None = None) -> ServeConfig:
        """Flags (only those given) over TURRIS_* over the TOML file; a bad value raises Invalid naming it."""
        file = config_file or os.environ.get(CONFIG_FILE_ENV) or None
        if file is not None:
            file = Path(file).expanduser()
            try:
                with file.open("rb") as handle:
                    tomllib.load(handle)
            except OSError as err:
                raise Invalid("config", f"Cannot read the configuration file {file}: {err.strerror or err}.") from None
            except tomllib.TOMLDecodeError as err:
                raise Invalid("config", f"The configuration file {file} is not valid TOML: {err}.") from None
        given = {k: v for k, v in flags.items() if v is not None}
        target = cls
        if file is not None:  # the file is per call, pydantic-settings takes it from the class
            target = type(cls.__name__, (cls,), {"model_config": {**cls.model_config, "toml_file": file}})
        try:
            config = target(**given)
        except ValidationError as err:
            raise _invalid(err) from None
        config.check()
        return config

    def check(self) -> None:
        """What a field's type cannot say: the parsed forms, and the key material."""
        checks = [("trusted_proxies", lambda: parse_networks(self.trusted_proxies, "trusted_proxies")),
                  ("restricted_endpoints", lambda: endpoint_rules(self.restricted_endpoints))]
        for name in ("secret_key", "previous_secret_key"):
            if (value := getattr(self, name)) is not None:
                checks.append((name, lambda value=value: decode_secret_key(value.get_secret_value())))
        for name, check in checks:
            try:
                check()
            except Invalid as err:
                raise Invalid(name, f"Setting {name}: {err.message}", err.value) from None

    @property
    def effective_issuer(self) -> str:
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        return (self.issuer or f"http://{shown_host}:{self.port}").rstrip("/")

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def service_settings(self, at_rest_key: bytes | None = None, *, multiprocess: bool = False) -> ServiceSettings:
        passphrase = self.signing_key_passphrase
        return ServiceSettings(
            issuer=self.effective_issuer,
            audience=self.audience,
            trusted_proxies=parse_networks(self.trusted_proxies),
            restricted_endpoints=endpoint_rules(self.restricted_endpoints),
            token_lifetime=self.token_lifetime,
            token_body_limit=self.token_body_limit,
            body_limit=self.body_limit,
            bearer_limit=self.bearer_limit,
            throttle_window=self.throttle_window,
            throttle_per_client_ip=self.throttle_per_client_ip,
            throttle_per_ip=self.throttle_per_ip,
            jwt_leeway=self.jwt_leeway,
            algorithm=self.signing_algorithm,
            at_rest_key=at_rest_key,
            passphrase=passphrase.get_secret_value().encode("utf-8") if passphrase else None,
            metrics_multiprocess=multiprocess,
            previous_at_rest_key=(decode_secret_key(self.previous_secret_key.get_secret_value())
                                  if self.previous_secret_key is not None else None),
        )

    def printable(self) -> dict[str, Any]:
        """The effective configuration with no secret in it (a secret shows as "(set)")."""
        shown_values = self.model_dump(mode="json")
        for name in SECRET_FIELDS:
            shown_values[name] = "(set)" if getattr(self, name) is not None else None
        shown_values["db_url"] = _hide_password(self.db_url)
        shown_values["issuer"] = self.effective_issuer
        return shown_values


def decode_secret_key(text: str, field: str = "secret_key") -> bytes:
    """32 bytes in (URL-safe) base64, e.g. from `openssl rand -base64 32`."""
    try:
        text = text.strip().replace("+", "-").replace("/", "_")
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise Invalid(field, "is not 32 bytes in base64 (make one with: openssl rand -base64 32).")
    return key


def _hide_password(url: str) -> str:
    if not url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (a URL we cannot parse is shown not at all)
        return "(set)"


def _invalid(err: ValidationError) -> StoreError:
    problem = err.errors()[0]
    name = ".".join(str(part) for part in problem.get("loc", ())) or "config"
    value = problem.get("input")
    if name in SECRET_FIELDS:
        value_text = "(hidden)"
    elif isinstance(value, dict):
        value_text = ""
    else:
        value_text = shown(str(value))
    message = problem.get("msg", "is not valid")
    if problem.get("type") == "extra_forbidden":
        message = "is not a setting serve knows"
        value_text = ""
    where = f" = {value_text}" if value_text else ""
    return Invalid(name, f"Setting {name}{where}: {message}.", None)
