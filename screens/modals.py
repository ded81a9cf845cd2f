"""The typed modals of the API page: created-once secrets, delete confirmation, outside links."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from turris_api.screens.help import HELP_KEY
from turris_api.widgets.copyable import CopyableValue
from turris_api.widgets.guard import ClosesOnce, Guarded, while_attached
from turris_api.widgets.text import inert


class Dialog(VerticalScroll, can_focus=False):
    """A modal's box: as tall as its content, scrolling when the terminal is shorter (the Created
    modal's advice at 80x24). Not a Tab stop: focusing its buttons scrolls them into view."""


class CreatedModal(Guarded, ClosesOnce, ModalScreen[None]):
    """Shows a new credential's values exactly once. They live only in this screen; closing before
    each was copied asks first."""

    BINDINGS = [Binding("escape", "ok", "Close"), HELP_KEY]

    def __init__(self, title: str, name: str, values: list[tuple[str, str]], warning: str, advice: str,
                 close_warning: str, note: str = "") -> None:
        super().__init__(classes="created-modal")
        self._title = title
        self._name = name
        self._values = values
        self._warning = warning
        self._advice = advice
        self.close_warning = close_warning
        self._note = note
        self._copied: set[int] = set()

    def compose(self) -> ComposeResult:
        with Dialog(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(inert(self._name, "bold"), classes="dialog-subject")
            for index, (label, value) in enumerate(self._values):
                yield CopyableValue(label, value, id=f"value-{index}", classes="copyable")
            yield Static(f"⚠ {self._warning}", classes="dialog-warning", markup=False)
            if self._note:
                yield Static(self._note, classes="dialog-note", markup=False)
            yield Static(self._advice, classes="dialog-note", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Ok", id="ok", variant="primary")
        yield Footer()

    AUTO_FOCUS = "#value-0"  # Textual focuses it as the screen opens; nothing to fail if it closed first

    def on_screen_resume(self) -> None:
        # Focusing the first value scrolls a short terminal's box past the title and the name.
        self.call_after_refresh(self._show_top)

    @while_attached
    def _show_top(self) -> None:
        self.query_one(Dialog).scroll_home(animate=False)

    @property
    def uncopied(self) -> list[str]:
        """The labels of the values not copied yet."""
        return [label for index, (label, _) in enumerate(self._values) if index not in self._copied]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy":
            return parameters[0] < len(self._values)
        return True

    def action_copy(self, index: int) -> None:
        if index >= len(self._values):  # a click or key that arrived after the modal closed
            return
        label, value = self._values[index]
        self._copied.add(index)
        self.app.copy_text(value, label)

    @on(CopyableValue.CopyRequested)
    def copy_value(self, event: CopyableValue.CopyRequested) -> None:
        self.action_copy(int((event.widget.id or "value-0").removeprefix("value-")))

    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        if not self.uncopied:
            self._close()
            return

        def decided(close: bool | None) -> None:
            if close:
                self._close()

        if self.app.screen is self:
            self.app.push_screen(Confirm("Not copied yet", f"{self.close_warning} Close anyway?", "Close anyway", "Back"),
                                 decided)

    def _close(self) -> None:
        # Forget the values before leaving: nothing of them stays in memory we control.
        self._values = []
        for widget in self.query(CopyableValue):
            widget.value = ""
        self.app.forget_clipboard()
        self.dismiss(None)


CLIENT_ADVICE = (
    "Never put the Client Secret in browser code, a public repository or a mobile app bundle; store it in a "
    "secrets manager that only your server-side code can read.\n\n"
    "Next: your backend exchanges the Client ID and Client Secret at the Get Token endpoint for a JWT that "
    "lasts 60 minutes. Cache it in your backend and send it as a Bearer token; exchange again when it expires. "
    "If a browser needs Turris data, use the Backend-for-Frontend (BFF) pattern: the browser calls your "
    "backend, which attaches the JWT."
)
BROWSER_CREDENTIAL_ADVICE = (
    "Treat it as a secret: do not commit it to source control, paste it into screenshots or share it in "
    "public chat. Its Allowed IP Addresses are the main boundary, and it reaches only a small subset of the "
    "API; for broader coverage, use an API Client."
)


class ClientCreatedModal(CreatedModal):
    """API Client Created: the Client ID and the Client Secret, once."""

    BINDINGS = [Binding("c", "copy(0)", "Copy Client ID"), Binding("s", "copy(1)", "Copy Client Secret")]

    def __init__(self, name: str, client_id: str, secret: str, has_origins: bool, rolled: str = "") -> None:
        """`rolled`: for a roll, what became of the old secret (the title says it was rolled)."""
        super().__init__(
            "Client Secret Rolled" if rolled else "API Client Created",
            name,
            [("Client ID", client_id), ("Client Secret", secret)],
            "Copy both now and store them in your secrets manager. The Client Secret will never be shown in Turris again.",
            CLIENT_ADVICE,
            "The Client Secret will never be shown again. If you have not stored it, you will have to "
            + ("roll it again." if rolled else "delete this API Client and create a new one."),
            rolled or ("" if has_origins else "No Allowed Origins were set, so browsers on any origin may use this client."),
        )


class TokenCreatedModal(CreatedModal):
    """Restricted Access Token Created: the token, once."""

    BINDINGS = [Binding("c", "copy(0)", "Copy Token")]

    def __init__(self, name: str, value: str, rolled: str = "") -> None:
        super().__init__(
            "Restricted Access Token Rolled" if rolled else "Restricted Access Token Created",
            name,
            [("Token", value)],
            "Copy it now and store it somewhere safe. The full value will never be shown in Turris again.",
            BROWSER_CREDENTIAL_ADVICE,
            "The token will never be shown again. If you have not stored it, you will have to "
            + ("roll it again." if rolled else "delete it and create a new one."),
            rolled,
        )


class Confirm(Guarded, ClosesOnce, ModalScreen[bool]):
    """A yes-or-no question before something is lost; True means go ahead. Escape and Enter on the
    focused button answer it; the safe answer has focus."""

    BINDINGS = [Binding("escape", "cancel", "Back")]

    def __init__(self, title: str, message: str, confirm: str, cancel: str = "Back", subject: str = "") -> None:
        super().__init__(classes="confirm-modal")
        self._title = title
        self._message = message
        self._confirm = confirm
        self._cancel = cancel
        self._subject = subject  # what the question is about (a credential's name), shown whole

    def compose(self) -> ComposeResult:
        with Dialog(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            if self._subject:
                name = inert(self._subject, "bold")
                name.no_wrap, name.overflow = False, "fold"  # the whole name, wrapped: the user must see what goes
                yield Static(name, classes="dialog-subject")
            yield Static(self._message, classes="dialog-warning", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._cancel, id="cancel")
                yield Button(self._confirm, id="confirm", variant="error")
        yield Footer()

    AUTO_FOCUS = "#cancel"  # Textual focuses it as the screen opens; nothing to fail if it closed first

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class ConfirmDelete(Confirm):
    """Asks before a credential is deleted; True means delete."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), HELP_KEY]

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(
            f"Delete {kind}?",
            "Deletion takes effect immediately and cannot be undone. Any integration still using this "
            "credential will start getting authentication failures.",
            "Delete",
            cancel="Cancel",
            subject=name,
        )
        self.kind = kind
        self.credential_name = name




def discard_changes() -> Confirm:
    """Asked before a form with unsaved input is closed or replaced."""
    return Confirm("Discard your changes?", "What you typed in this form has not been saved.", "Discard", "Keep editing")


class LinkModal(Guarded, ClosesOnce, ModalScreen[None]):
    """An outside link: opened where a browser exists, always shown and copyable (SSH has no browser).
    `note` and `more` (label, value) pairs say what else the user may need beside it, each copyable."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("c", "copy", "Copy URL"), HELP_KEY]

    def __init__(self, title: str, url: str, opened: bool, note: str = "",
                 more: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(classes="link-modal")
        self._title = title
        self.url = url
        self.opened = opened
        self._note = note
        self._more = tuple(more)

    def compose(self) -> ComposeResult:
        with Dialog(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(
                "Asked your system to open this in your browser."
                if self.opened
                else "No browser can be opened from this terminal (for example over SSH). Copy the URL instead:",
                classes="dialog-note",
                markup=False,
            )
            yield CopyableValue("URL", self.url, id="url", classes="copyable")
            if self._note:
                yield Static(self._note, classes="dialog-note", markup=False)
            for index, (label, value) in enumerate(self._more):
                yield CopyableValue(label, value, id=f"more-{index}", classes="copyable")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy URL", id="copy", variant="primary")
                yield Button("Close", id="close")
        yield Footer()

    AUTO_FOCUS = "#copy"  # Textual focuses it as the screen opens; nothing to fail if it closed first

    @on(CopyableValue.CopyRequested)
    def copy_value(self, event: CopyableValue.CopyRequested) -> None:
        widget = event.widget
        self.app.copy_text(widget.value, "the URL" if widget.id == "url" else widget.label)

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        self.app.copy_text(self.url, "the URL")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
