"""A store clock the tests move by hand: overlaps and expiries without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Every store module that reads the time: the code under test names `utcnow` from each.
CLOCK_MODULES = ("turris_api.store.local", "turris_api.store.verify", "turris_api.store.audit")


class Clock:
    """Now, as the store sees it; `advance` moves it on."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def install_clock(monkeypatch) -> Clock:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    for module in CLOCK_MODULES:
        monkeypatch.setattr(f"{module}.utcnow", clock)
    return clock
