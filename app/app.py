"""TurrisApp: the terminal app over one CredentialStore, and `run_app` for the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import ThemeProvider
from textual.worker import NoActiveWorker, Worker, WorkerFailed, WorkerState, get_current_worker

from turris_api.app.config import Links
from turris_api.screens.main import MainScreen
from turris_api.screens.palette import SafeCommandPalette
from turris_api.screens.settings import DEVELOPER_PAGES, PAGES, SettingsModal
from turris_api.store.errors import StoreError
from turris_api.store.interface import CredentialStore
from turris_api.store.models import Me
from turris_api.widgets.guard import UNEXPECTED, Guarded

STYLES = str(files("turris_api").joinpath("styles.tcss"))  # package data, so it ships in the wheel
EXIT_UNEXPECTED = 1


def settings_page_from_link(link: str) -> str | None:
    """The settings page a deep link asks for ("?settings-modal=open&path=api", or a URL with those), else None."""
    parts = urlsplit(link.strip())
    query = parts.query or (parts.path[1:] if parts.path.startswith("?") else "")
    params = parse_qs(query)
    if params.get("settings-modal", [""])[0] != "open":
        return None
    return params.get("path", ["profile"])[0] or "profile"


def local_clipboard(text: str) -> bool:
    """Copy with pyperclip where this machine has a clipboard; False where it has none."""
    import pyperclip

    try:
        pyperclip.copy(text)
    except Exception:  # pyperclip raises its own and OS errors when no clipboard tool works
        return False
    return True


def platform_opener(url: str) -> bool:
    """Hand `url` to the desktop's opener, if this session has a desktop; never a console browser."""
    if sys.platform == "darwin":
        command = ["open", url]
    elif sys.platform.startswith("win"):
        command = ["explorer", url]
    elif (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("xdg-open"):
        command = ["xdg-open", url]
    else:
        return False
    try:
        subprocess.Popen(  # noqa: S603 (fixed program, URL from our own config)
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError:
        return False
    return True


class TurrisApp(Guarded, App[None]):
    """Settings → Developer → API, in the terminal."""

    CSS_PATH = STYLES
    TITLE = "Turris API Settings"

    status: reactive[str] = reactive("Connecting…")
    """Which store, as whom: shown on every screen's status line."""

    me: reactive[Me | None] = reactive(None)
    """Who we are, as the store last said: the one copy every screen and page follows."""

    def __init__(
        self,
        store: CredentialStore,
        open_link: str | None = None,
        *,
        links: Links | None = None,
        opener: Callable[[str], bool] | None = platform_opener,
        clipboard: Callable[[str], bool] | None = local_clipboard,
        service_url: str | None = None,
    ) -> None:
        """`service_url`: the credential service the store talks to (--remote), if it is one."""
        super().__init__()
        self.store = store
        self.links = links or Links.from_env()
        self.service_url = service_url.rstrip("/") if service_url else None
        self._open_link = open_link
        self._opener = opener
        self._local_clipboard = clipboard
        self._stopping = False
        self.settings_page = "profile"  # where Settings reopens: the page the user left

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        self.load_me()

    # --- who we are -----------------------------------------------------------

    def action_reconnect(self) -> None:
        self.load_me()

    @work(thread=True, exclusive=True, group="store-read", exit_on_error=False, name="me")
    def load_me(self) -> None:
        me = self.store.me()
        self.call_from_thread(self._me_loaded, me)

    def _me_loaded(self, me: Me) -> None:
        first = self.me is None
        self.me = me
        for warning in self.store.warnings if first else ():
            self.notify(warning, title="Store not private", severity="warning", markup=False, timeout=15)
        if self._open_link is not None:
            link, self._open_link = self._open_link, None
            page = settings_page_from_link(link)
            if page is None:
                self.notify(f"Ignored --open {link!r}: expected ?settings-modal=open&path=api.",
                            title="Unknown link", severity="warning", markup=False)
            else:
                self.open_settings(page)

    def watch_me(self, me: Me | None) -> None:
        if me is None:
            return
        member = me.member
        permission = "can manage API credentials" if member.can_manage_credentials else "read only"
        self.status = f"{self.store.description} · {member.email} ({member.role}, {permission}) · {me.organization.name}"
        main = self._main_screen()
        if main is not None:
            main.show_text(
                f"Signed in as {member.email} in {me.organization.name}.\n\n"
                + ("Open Settings (press s, or choose it in the sidebar), then Developer → API to create, view and "
                   "retire the credentials your systems use to call the Turris public API."
                   if me.organization.api_access else
                   "Your organization's plan does not include API access, so Settings has no API page.")
            )

    def _main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.name in ("me", "copy", "open"):
            if event.worker.name == "me":
                self.status = f"{self.store.description} · not connected (press r on the home screen to retry)"
                main = self._main_screen()
                if main is not None:
                    main.show_text("Could not reach the credential store. Press r to try again.")
            self.report_error(event.worker.error)

    def _handle_exception(self, error: Exception) -> None:
        # Overrides Textual internals (pinned, textual==8.2.8; tests/test_app_stories.py checks it): its own
        # handler prints a Rich traceback with local variables, and a credential may be one of them.
        # What reaches here cannot go on (a failed compose or mount): stop, with one line and no traceback.
        if os.environ.get("TURRIS_DEBUG"):
            super()._handle_exception(error)
            return
        if self._stopping or self._palette_gone_mid_search(error):
            return
        self._stopping = True
        # Worded as cli.py's own last resort.
        line = f"turris-api: unexpected error ({type(error).__name__}); set TURRIS_DEBUG=1 for details"
        self.exit(return_code=EXIT_UNEXPECTED, message=Text(line, no_wrap=True, overflow="ignore"))

    def _palette_gone_mid_search(self, error: Exception) -> bool:
        """Textual 8.2.8's command palette searches in a worker that can outlive the palette (ctrl+p,
        then Esc before the first results, perhaps ctrl+p again): it then fails looking up its own
        list. Nothing is lost. A worker's failure is handled in that worker's context."""
        if not (isinstance(error, WorkerFailed) and isinstance(error.error, NoMatches)):
            return False
        try:
            searcher = get_current_worker().node
        except NoActiveWorker:
            return False
        return isinstance(searcher, CommandPalette) and searcher is not self.screen

    def report_error(self, err: BaseException | None) -> None:
        """A failure as a notification: a store error as it is, anything else without internals."""
        if isinstance(err, StoreError):
            self.notify(str(err), title=err.title, severity="error", markup=False, timeout=8)
        else:
            self.notify(UNEXPECTED, title="Unexpected error", severity="error", markup=False, timeout=8)

    # --- settings -------------------------------------------------------------

    def action_open_settings(self, page: str | None = None) -> None:
        self.open_settings(page)

    def on_settings_modal_page_shown(self, event: SettingsModal.PageShown) -> None:
        self.settings_page = event.page

    def open_settings(self, page: str | None = None) -> SettingsModal | None:
        page = page or self.settings_page
        if self.me is None:
            self.notify("Still connecting to the credential store…", markup=False)
            return None
        if page not in PAGES:
            self.notify(f"There is no settings page {page!r}.", severity="warning", markup=False)
            page = "profile"
        if page in DEVELOPER_PAGES and not self.me.organization.api_access:
            self.notify("Your organization's plan does not include API access.", title=f"No {PAGES[page]} page",
                        severity="warning", markup=False)
            page = "profile"
        for screen in self.screen_stack:
            if isinstance(screen, SettingsModal):
                screen.show_page(page)
                return screen
        modal = SettingsModal(page)
        self.push_screen(modal)
        return modal

    def api_action(self, action: str) -> None:
        """Run an API page action from the command palette, opening the page first if needed."""
        modal = self.open_settings("api")
        if modal is None:
            return

        def run() -> None:
            page = modal.api_page
            if page is not None:
                page.perform(action)

        self.call_after_refresh(run)

    def action_command_palette(self) -> None:
        # Not CommandPalette.is_open: it looks for a class the palette gets as it mounts, so a second
        # ctrl+p before then would open a second palette (DuplicateIds).
        if self.use_command_palette and not any(isinstance(s, CommandPalette) for s in self.screen_stack):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def search_themes(self) -> None:
        # As App.search_themes (the palette's "Theme" command), with the palette that closes once.
        self.push_screen(SafeCommandPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Keys", "Every key this screen answers to", self.action_help)
        yield SystemCommand("Settings", "Open the Settings modal", self.action_open_settings)
        me = self.me
        if me is None or not me.organization.api_access:
            return
        yield SystemCommand("API settings", "Settings → Developer → API", lambda: self.open_settings("api"))
        yield SystemCommand("Reload credentials", "Fetch the API Clients and tokens again", lambda: self.api_action("reload"))
        yield SystemCommand("Audit log", "Settings → Developer → Audit log: who changed what",
                            lambda: self.open_settings("audit"))
        if me.sees_credential_controls:
            yield SystemCommand("Add API Client", "Create a secure API client", lambda: self.api_action("add_client"))
            yield SystemCommand("Add Restricted Access Token", "Create a restricted access token",
                                lambda: self.api_action("add_token"))
            yield SystemCommand("View Docs", "The Turris public API documentation", lambda: self.api_action("view_docs"))
            yield SystemCommand("Run in Postman", "The Turris Postman workspace, and this service's own collection",
                                lambda: self.api_action("run_in_postman"))

    # --- help and quitting ----------------------------------------------------

    def action_help(self) -> None:
        from turris_api.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        # The screen's own keys first, then the focused control's; keys doing the same thing share a row.
        found = sorted(self.active_bindings.values(), key=lambda a: not isinstance(a.node, (App, Screen)))
        rows: dict[tuple[str, bool], list[str]] = {}
        for active in found:  # the screen's, before the help covers it
            binding = active.binding
            if binding.description and not binding.system:
                rows.setdefault((binding.description, active.enabled), []).append(self.get_key_display(binding))
        self.push_screen(HelpScreen([(" / ".join(keys), what, enabled) for (what, enabled), keys in rows.items()]))

    def what_quitting_loses(self) -> str | None:
        """Why quitting now would lose something (unsaved input, a secret not yet copied), else None."""
        from turris_api.screens.modals import CreatedModal

        for screen in reversed(self.screen_stack):
            if isinstance(screen, CreatedModal) and screen.uncopied:
                return screen.close_warning
            if isinstance(screen, SettingsModal) and (page := screen.api_page) is not None and page.has_unsaved_input:
                return "What you typed in the open form has not been saved."
        return None

    async def action_quit(self) -> None:
        lost = self.what_quitting_loses()
        if lost is None:
            self.exit()
            return
        from turris_api.screens.modals import Confirm

        def decided(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        if not any(isinstance(s, Confirm) for s in self.screen_stack):
            self.push_screen(Confirm("Quit anyway?", lost, "Quit", "Back"), decided)

    # --- outside links --------------------------------------------------------

    def open_link(self, title: str, url: str, note: str = "", more: Sequence[tuple[str, str]] = ()) -> None:
        """Open `url` in the browser where there is one, and show it, with `note` and `more` beside it."""
        from turris_api.screens.modals import LinkModal

        opened = self._opener(url) if self._opener is not None else False
        self.push_screen(LinkModal(title, url, opened, note, more))

    # --- clipboard ------------------------------------------------------------

    def copy_text(self, text: str, label: str) -> None:
        """Copy through the terminal (OSC 52, works over SSH) and the local clipboard; say what happened."""
        self.copy_to_clipboard(text)
        if self._local_clipboard is None:
            self._copied(label, False)
        else:
            self._copy_locally(text, label)

    @work(thread=True, group="clipboard", exit_on_error=False, name="copy")
    def _copy_locally(self, text: str, label: str) -> None:
        copied = self._local_clipboard(text)
        self.call_from_thread(self._copied, label, copied)

    def _copied(self, label: str, locally: bool) -> None:
        if locally:
            self.notify(f"Copied {label} to the clipboard.", title="Copied", markup=False)
        elif self._driver is None:
            self.notify(f"Could not copy {label}: no clipboard is reachable from here. Select it on screen instead.",
                        title="Not copied", severity="warning", markup=False)
        else:
            self.notify(
                f"Sent {label} to the terminal's clipboard (OSC 52). Nothing to paste? Your terminal blocks it: "
                "copy it from the screen.",
                title="Copied via terminal",
                markup=False,
                timeout=8,
            )

    def forget_clipboard(self) -> None:
        """Drop the app's own copy of the last copied text (the terminal's clipboard keeps it)."""
        self._clipboard = ""


def run_app(store: CredentialStore, open_link: str | None = None, service_url: str | None = None) -> int:
    """Run the app until the user quits; the exit status (non-zero when it had to stop)."""
    app = TurrisApp(store, open_link=open_link, service_url=service_url)
    app.run()
    return app.return_code or 0
