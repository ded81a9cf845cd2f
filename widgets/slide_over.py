"""A panel that slides in from the right over the page it belongs to."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive

from turris_api.widgets.guard import Guarded


class SlideOver(Guarded, Vertical):
    """Docked right, off-screen until `visible`; focus stays inside while it shows; Escape asks to close."""

    DEFAULT_CSS = """
    SlideOver {
        dock: right;
        layer: slide-over;
        width: 56;
        max-width: 100%;
        height: 100%;
        offset-x: 110%;
        transition: offset 200ms;
        background: $panel;
        border-left: wide $primary;
        padding: 0 1;
        &.-visible {
            offset-x: 0;
        }
    }
    """

    BINDINGS = [Binding("escape", "hide", "Close", show=True)]

    class CloseRequested(Message):
        """The user asked to close the panel (Escape); its owner decides (it may hold unsaved input)."""

    visible: reactive[bool] = reactive(False)
    """Whether the panel is on screen."""

    def watch_visible(self, visible: bool) -> None:
        self.set_class(visible, "-visible")
        self.trap_focus(visible)  # Tab and Shift+Tab cycle inside, as in a modal

    def action_hide(self) -> None:
        self.post_message(self.CloseRequested())
