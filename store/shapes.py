"""One JSON shape per domain model, derived from its fields: what the CLI prints, what the service
answers and what the remote store reads back. A created credential is its listing shape plus one
field holding the secret (`client_secret`, `token`), in the create answer only."""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from turris_api.store.models import ApiClient, CreatedClient, CreatedToken, RestrictedToken

T = TypeVar("T")
CLIENT_SECRET_FIELD = "client_secret"  # noqa: S105 (a field name)
TOKEN_FIELD = "token"  # noqa: S105 (a field name)


def to_json(value: Any) -> Any:
    """Dataclasses as objects, tuples as lists, datetimes as ISO 8601; anything else as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def from_json(cls: type[T], data: Any) -> T:
    """`cls` from its JSON shape, checking each field's type; TypeError, KeyError or ValueError if it does not fit.
    A field with a default may be missing (an older service)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}")
    values = {}
    for name, (kind, has_default) in _fields(cls).items():
        if name in data:
            values[name] = _value(kind, data[name])
        elif not has_default:
            raise KeyError(name)
    return cls(**values)


def created_client_json(created: CreatedClient) -> dict[str, Any]:
    return {**to_json(created.client), CLIENT_SECRET_FIELD: created.secret}


def created_token_json(created: CreatedToken) -> dict[str, Any]:
    return {**to_json(created.token), TOKEN_FIELD: created.value}


def created_client_from_json(data: Any) -> CreatedClient:
    return CreatedClient(client=from_json(ApiClient, data), secret=_value(str, data[CLIENT_SECRET_FIELD]))


def created_token_from_json(data: Any) -> CreatedToken:
    return CreatedToken(token=from_json(RestrictedToken, data), value=_value(str, data[TOKEN_FIELD]))


@cache
def _fields(cls: type) -> dict[str, tuple[Any, bool]]:
    hints = get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    }


def _value(kind: Any, value: Any) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):  # only `X | None` occurs in the models
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return None if value is None else _value(inner, value)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError("expected a list")
        return tuple(_value(get_args(kind)[0], v) for v in value)
    if kind is datetime:
        moment = datetime.fromisoformat(_value(str, value))
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("expected an integer")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise TypeError("expected text")
        return value
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value)
    raise TypeError(f"no JSON shape for {kind!r}")
