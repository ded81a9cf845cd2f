"""The one family of errors every store backend raises, each fit to show as it is."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: a refusal or failure the app, the CLI and the service can show verbatim."""

    title = "Something went wrong"
    code = "error"  # stable machine code (HTTP bodies, --json)
    exit_code = 1  # CLI exit status
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Invalid(StoreError):
    """Bad input; names the field and the bad value."""

    title = "Invalid input"
    code = "invalid"
    exit_code = 2
    http_status = 422

    def __init__(self, field: str, message: str, value: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class PermissionDenied(StoreError):
    title = "Permission denied"
    code = "permission_denied"
    exit_code = 3
    http_status = 403


class NotFound(StoreError):
    title = "Not found"
    code = "not_found"
    exit_code = 4
    http_status = 404


class Conflict(StoreError):
    title = "Changed elsewhere"
    code = "conflict"
    exit_code = 5
    http_status = 409


class Unavailable(StoreError):
    """The store cannot answer now; trying again may work."""

    title = "Store unavailable"
    code = "unavailable"
    exit_code = 1
    http_status = 503

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


ERRORS_BY_CODE: dict[str, type[StoreError]] = {
    cls.code: cls for cls in (StoreError, Invalid, PermissionDenied, NotFound, Conflict, Unavailable)
}
