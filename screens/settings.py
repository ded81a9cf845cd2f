"""The Settings modal: grouped navigation on the left, the chosen page on the right."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Label, OptionList, Static
from textual.widgets.option_list import Option

from turris_api.screens.api_page import ApiPage
from turris_api.screens.audit_page import AuditPage, AuditSubject
from turris_api.screens.help import HELP_KEY, QUIT_KEY
from turris_api.store.models import Me
from turris_api.widgets.footer import Footer
from turris_api.widgets.guard import ClosesOnce, Guarded, while_attached
from turris_api.widgets.status_line import StatusLine
from turris_api.widgets.text import inert

PAGES = {"profile": "Profile", "api": "API", "audit": "Audit log"}
DEVELOPER_PAGES = ("api", "audit")  # shown where the plan includes API access, to every member


class ProfilePage(VerticalScroll):
    """Who you are here, and what that lets you do on the API page."""

    @property
    def me(self) -> Me:
        return self.app.me

    def on_mount(self) -> None:
        self.watch(self.app, "me", lambda _: self.refresh(recompose=True), init=False)

    def compose(self) -> ComposeResult:
        me = self.me
        yield Label("Profile", classes="page-title")
        rows = [
            ("Organization", me.organization.name),
            ("Member", me.member.email),
            ("Name", me.member.display_name),
            ("Role", me.member.role),
            ("Manage API credentials", "yes" if me.member.can_manage_credentials else "no"),
            ("Plan includes API access", "yes" if me.organization.api_access else "no"),
        ]
        for label, value in rows:
            yield Static(Text.assemble((f"{label}: ", "bold"), inert(value)), classes="profile-row")
        if not me.organization.api_access:
            what = "Your organization's plan does not include API access, so the API page is not available."
        elif me.can_manage_clients:
            what = "On Developer → API you can create, edit and delete API Clients and Restricted Access Tokens."
        elif me.can_manage_tokens:
            what = ("On Developer → API you can manage Restricted Access Tokens; API Clients need the "
                    "Admin or Developer role, so you can open them but not change them.")
        else:
            what = "On Developer → API you can see the credentials of your organization, but not change them."
        yield Static(what, classes="profile-note", markup=False)


class SettingsNav(OptionList):
    """Grouped navigation; group headings are not selectable."""


class SettingsModal(Guarded, ClosesOnce, ModalScreen[None]):
    """Settings, opened from the sidebar or by the deep link."""

    # Below 110 columns the nav folds away (it opens again while focused: shift+tab from the
    # page), so the tables get the whole width; below 30 rows the forms pack tighter.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("a", "api('add_client')", "Add API Client"),
        Binding("t", "api('add_token')", "Add Token"),
        Binding("d", "api('view_docs')", "View Docs"),
        Binding("p", "api('run_in_postman')", "Postman"),
        Binding("r", "reload", "Reload"),
        HELP_KEY,
        QUIT_KEY,
    ]

    @dataclass
    class PageShown(Message):
        """The user is on this page now (so Settings can reopen on it)."""

        page: str

    def __init__(self, page: str = "profile") -> None:
        super().__init__()
        self.initial_page = page if page in self.pages else "profile"

    @property
    def me(self) -> Me:
        return self.app.me

    @property
    def pages(self) -> list[str]:
        return ["profile", *DEVELOPER_PAGES] if self.me.organization.api_access else ["profile"]

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-dialog"):
            with Horizontal(id="settings-header"):
                yield Label("Settings", id="settings-title")
                yield Label("shift+tab: sections", id="settings-nav-hint")
                yield Button("✕ Close", id="settings-close", compact=True)
            with Horizontal(id="settings-main"):
                yield SettingsNav(*self._nav_options(), id="settings-nav")
                with ContentSwitcher(initial=self.initial_page, id="settings-content"):
                    yield self._hidden_unless_initial(ProfilePage(id="profile"))
                    if "api" in self.pages:
                        yield self._hidden_unless_initial(ApiPage(id="api"))
                        yield self._hidden_unless_initial(AuditPage(id="audit"))
            yield StatusLine(id="settings-status", classes="status-line")
        yield Footer()

    def _hidden_unless_initial(self, page: Widget) -> Widget:
        # Hidden from the start, not only once the switcher mounts: a page's first answer may come
        # before that, and a page on show takes focus.
        page.display = page.id == self.initial_page
        return page

    def _nav_options(self) -> list[Option]:
        options = [Option(Text("ACCOUNT", style="bold dim"), disabled=True), Option("  Profile", id="profile")]
        if "api" in self.pages:
            options += [Option(Text("DEVELOPER", style="bold dim"), disabled=True), Option("  API", id="api"),
                        Option("  Audit log", id="audit")]
        return options

    def on_mount(self) -> None:
        if self not in self.app.screen_stack:  # closed before it finished opening (Esc right after s)
            return
        nav = self.query_one(SettingsNav)
        nav.highlighted = nav.get_option_index(self.initial_page)
        nav.focus()
        if self.initial_page in DEVELOPER_PAGES:
            self.call_after_refresh(self._focus_page)
        if self.initial_page == "audit":
            self.audit_page.reload()
        self.post_message(self.PageShown(self.initial_page))

    @while_attached
    def _focus_page(self) -> None:
        page = self.api_page if self.current_page == "api" else self.audit_page if self.current_page == "audit" else None
        if page is not None:
            page.focus_default()

    @property
    def api_page(self) -> ApiPage | None:
        found = self.query(ApiPage)
        return found.first() if found else None

    @property
    def audit_page(self) -> AuditPage | None:
        found = self.query(AuditPage)
        return found.first() if found else None

    def show_page(self, page: str) -> None:
        if not self.query(ContentSwitcher):  # asked again before it was composed: compose opens it there
            self.initial_page = page if page in self.pages else "profile"
            return
        self._switch_to(page)
        audit = self.audit_page
        if page == "audit" and audit is not None:
            audit.reload()  # what changed since it was last shown

    def _switch_to(self, page: str) -> None:
        self.query_one(ContentSwitcher).current = page
        nav = self.query_one(SettingsNav)
        nav.highlighted = nav.get_option_index(page)
        self.refresh_bindings()
        self.post_message(self.PageShown(page))

    def show_history(self, subject: AuditSubject | None) -> None:
        """The Audit log page with the history of `subject` (every event for None), focus on it."""
        audit = self.audit_page
        if audit is None:
            return
        self._switch_to("audit")
        audit.show_history(subject)
        self.call_after_refresh(self._focus_page)

    def on_api_page_history_requested(self, event: ApiPage.HistoryRequested) -> None:
        self.show_history(AuditSubject(event.credential_type, event.credential_id, event.name))

    @property
    def current_page(self) -> str:
        return self.query_one(ContentSwitcher).current or "profile"

    @property
    def form_open(self) -> bool:
        page = self.api_page
        return page is not None and page.slide_over.visible

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # A click behind an open slide-over must not move the keyboard there: keep it in the form.
        page = self.api_page
        if page is None or not page.slide_over.visible or event.widget in page.slide_over.query("*"):
            return
        form = page.form
        if form is not None:
            form.focus_first()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "api":
            page = self.api_page
            return (page is not None and self.current_page == "api" and not page.slide_over.visible
                    and page.allows(parameters[0]))
        if action == "reload":
            return self.check_action("api", ("reload",)) or (self.audit_page is not None and self.current_page == "audit")
        return True

    def action_api(self, action: str) -> None:
        page = self.api_page
        if page is not None:
            page.perform(action)

    def action_reload(self) -> None:
        """Fetch the page shown again: the credentials, or the newest audit events."""
        audit = self.audit_page
        if self.current_page == "audit" and audit is not None:
            audit.reload()
        else:
            self.action_api("reload")

    @on(OptionList.OptionSelected, "#settings-nav")
    def nav_chosen(self, event: OptionList.OptionSelected) -> None:
        page = event.option.id
        if page == "audit":
            self.show_history(None)  # the nav's Audit log is every event; a panel's View history narrows it
        elif page:
            self.show_page(page)
            if page == "api":  # into the page, as the deep link does (a folded nav then folds away)
                self.call_after_refresh(self._focus_page)

    @on(Button.Pressed, "#settings-close")
    def action_close(self) -> None:
        page = self.api_page
        if page is not None and page.slide_over.visible:
            page.request_close_form()
            return
        self.dismiss(None)
