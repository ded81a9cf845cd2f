"""A handler that fails must not take the app down: it becomes a notification, the app goes on.
A screen closes once, however fast the keys that close it come."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from textual import events
from textual.await_complete import AwaitComplete
from textual.message import Message

log = logging.getLogger(__name__)

# What a user reads for any failure that is not a store error: no internals, nothing it was handed.
UNEXPECTED = "Something unexpected went wrong; nothing was changed. Try again, and tell support if it persists."


class Guarded:
    """Mix into a Textual node (before the Textual class) so an exception in one of its handlers or
    actions is reported through `app.report_error` instead of ending the app.

    Textual ends the whole app on any handler exception (and prints a traceback with local variables,
    where a credential may sit). There is no public hook per message, so this wraps
    MessagePump._dispatch_message (pinned by tests/test_app_stories.py's guard tests; textual==8.2.8).
    Compose and Mount still fail loudly: a half-built widget is not worth keeping.

    A node already being removed (a screen closed in the instant it opened, a result arriving as it
    closes) may have lost its children before a handler runs; nothing it shows stays, so such a
    failure is dropped unreported. Textual marks that node `_pruning`, an internal read here under
    the same pin.
    """

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except Exception as err:
            if getattr(self, "_pruning", False):
                log.debug("%s failed on %s while being removed", type(err).__name__, type(message).__name__)
                return
            if isinstance(message, (events.Compose, events.Mount)):
                raise
            # The type only: an exception's text or locals may hold what it was handed, a secret among them.
            log.debug("%s failed on %s", type(err).__name__, type(message).__name__)
            report = getattr(self.app, "report_error", None)  # type: ignore[attr-defined]
            if report is None:
                raise
            report(err)


async def _nothing() -> None:
    return None


class ClosesOnce:
    """Mix into a Screen (before the Textual class) so it closes once. A second Esc or Enter that
    arrives before the screen has gone dismisses it again: Textual 8.2.8 then fails setting the
    result of a screen waited for, or pops the screen beneath."""

    def dismiss(self, result=None) -> AwaitComplete:
        if not self.is_active:  # type: ignore[attr-defined]  # already on its way out
            return AwaitComplete(_nothing())
        return super().dismiss(result)  # type: ignore[misc]


def while_attached(method: Callable) -> Callable:
    """For a method run later (call_after_refresh, call_later): skipped if its node left the DOM
    meanwhile, as when Esc closes a screen between a key and the refresh after it."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if self.is_attached:
            return method(self, *args, **kwargs)
        return None

    return run
