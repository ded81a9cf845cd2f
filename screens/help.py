"""The keys of the screen underneath, listed from its active bindings."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from turris_api.widgets.guard import ClosesOnce, Guarded

# On each screen rather than the app: a modal screen cuts the app's own bindings off.
HELP_KEY = Binding("question_mark", "app.help", "Keys", tooltip="Every key this screen answers to.")
QUIT_KEY = Binding("q", "app.quit", "Quit", show=False, tooltip="Quit (asks first if something would be lost).")



class HelpScreen(Guarded, ClosesOnce, ModalScreen[None]):
    """What each key does where the user is; built from the active bindings, so it cannot go stale."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("question_mark", "close", "Close", show=False)]

    def __init__(self, rows: list[tuple[str, str, bool]]) -> None:
        super().__init__(classes="help-modal")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(classes="help-keys"):
                for key, description, enabled in self.rows:
                    yield Static(self._row(key, description, enabled), classes="help-row")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")
        yield Footer()

    @staticmethod
    def _row(key: str, description: str, enabled: bool) -> Text:
        text = Text.assemble((f"{key:>18}", "bold"), "  ", description, end="")
        if not enabled:
            text.append("  (not available here now)", style="dim")
        return text

    AUTO_FOCUS = "#close"  # Textual focuses it as the screen opens; nothing to fail if it closed first

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
