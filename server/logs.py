"""The service's log: one access line per request and security events, plain or JSON lines.

Fields are public identifiers only (request id, address, method, path, status, Client ID or
token id): never a secret, token, JWT or hash, so the log can be shipped anywhere. The query
string is never logged, since a careless client may put a token in it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

access_log = logging.getLogger("turris.access")
security_log = logging.getLogger("turris.security")


class RequestLog:
    """What the access line of the request in flight will say; the checks fill in the credential."""

    __slots__ = ("request_id", "client", "method", "path", "credential")

    def __init__(self, request_id: str, client: str | None, method: str, path: str) -> None:
        self.request_id = request_id
        self.client = client
        self.method = method
        self.path = path
        self.credential: str | None = None


current: ContextVar[RequestLog | None] = ContextVar("turris_request", default=None)


def note_credential(public_id: str | None) -> None:
    """The Client ID or token id the request presented (a public identifier), for its log lines."""
    entry = current.get()
    if entry is not None and public_id:
        entry.credential = public_id


def security_event(event: str, **fields: object) -> None:
    """A security event (failed authentication, throttle, refused token, credential change)."""
    if not security_log.isEnabledFor(logging.WARNING):
        return
    entry = current.get()
    if entry is not None:
        fields = {"request_id": entry.request_id, "client": entry.client, "method": entry.method,
                  "path": entry.path, "credential": fields.pop("credential", None) or entry.credential, **fields}
    security_log.warning(event, extra={"fields": {"event": event, **fields}})


def access(entry: RequestLog, status: int, started: float) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": entry.request_id, "client": entry.client, "method": entry.method, "path": entry.path,
        "status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "credential": entry.credential,
    }
    # makeRecord + handle: what info() does, less its look up the stack for a caller no line shows.
    access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, "", 0, "request", (), None,
                                            extra={"fields": fields}))


class _SecondsCache:
    """formatTime for many records a second: the strftime of a second is done once."""

    def __init__(self) -> None:
        self._second: int | None = None
        self._text = ""

    def text(self, formatter: logging.Formatter, record: logging.LogRecord, datefmt: str) -> str:
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(datefmt, formatter.converter(record.created))
            self._second = second
        return self._text


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _SecondsCache()

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self._seconds.text(self, record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update((k, v) for k, v in fields.items() if v is not None)
        if record.exc_info and not fields:
            line["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._seconds = _SecondsCache()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        return f"{self._seconds.text(self, record, datefmt or self.default_time_format)},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if not fields or record.exc_info or record.stack_info:
            text = super().format(record)
        else:  # the access line, once per request: this format without Formatter's general machinery
            text = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        if fields:
            parts = [text]
            for key, value in fields.items():
                if value is not None and key != "event":
                    parts.append(f"{key}={_plain_value(value)}")
            text = " ".join(parts)
        return text


def _plain_value(value: object) -> str:
    text = value if type(value) is str else str(value)
    # A path may carry a decoded newline: quoting keeps one record on one line.
    return json.dumps(text) if (not text or not text.isprintable() or " " in text or '"' in text) else text


def configure(log_format: str = "plain", level: str = "info", access: bool = True) -> None:
    """Every logger (ours, uvicorn's) writes one line per record to stderr in the chosen format."""
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else PlainFormatter()
    formatter.converter = time.gmtime
    # No format here shows the thread or process: LogRecord need not look them up for every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # ours replaces it (it would log query strings)
    access_log.disabled = not access
    security_log.setLevel(logging.WARNING)
    access_log.setLevel(logging.INFO)
