"""Times as the panel and the tables word them: "3 minutes ago", "until 2026-12-02 14:00 UTC"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EXPIRY_WARNING = timedelta(days=7)  # the tables turn an expiry yellow this close to it


def now() -> datetime:
    """The app's clock (tests replace it for fixed snapshots)."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


def ago(moment: datetime, at: datetime) -> str:
    delta = at - moment
    return "just now" if delta < timedelta(minutes=1) else f"{_span(delta)} ago"


def left(moment: datetime, at: datetime) -> str:
    return f"in {_span(moment - at)}"


def expiring_soon(expires_at: datetime | None, at: datetime) -> bool:
    return expires_at is not None and at < expires_at <= at + EXPIRY_WARNING
