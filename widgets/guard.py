"""A handler that fails must not take the app down: it becomes a notification, the app goes on."""

from __future__ import annotations

import logging

from textual import events
from textual.message import Message

log = logging.getLogger(__name__)


class Guarded:
    """Mix into a Textual node (before the Textual class) so an exception in one of its handlers or
    actions is reported through `app.report_error` instead of ending the app.

    Textual ends the whole app on any handler exception (and prints a traceback with local variables,
    where a credential may sit). There is no public hook per message, so this wraps
    MessagePump._dispatch_message (pinned by tests/test_app_stories.py's guard tests; textual==8.2.8).
    Compose and Mount still fail loudly: a half-built widget is not worth keeping.
    """

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except Exception as err:
            if isinstance(message, (events.Compose, events.Mount)):
                raise
            # The type only: an exception's text or locals may hold what it was handed, a secret among them.
            log.debug("%s failed on %s", type(err).__name__, type(message).__name__)
            report = getattr(self.app, "report_error", None)  # type: ignore[attr-defined]
            if report is None:
                raise
            report(err)
