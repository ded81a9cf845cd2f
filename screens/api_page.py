"""Settings → Developer → API: the banner, the credential tables, the slide-over forms.

The page owns every store call it needs; each runs in a thread worker and reports back with a
message. Widgets below it only post what the user asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from turris_api.store.errors import Invalid, StoreError
from turris_api.store.listing import fetch_listing
from turris_api.store.models import (
    ADMIN,
    API_CLIENT,
    DEVELOPER,
    RESTRICTED_TOKEN,
    ApiClient,
    ClientDraft,
    Me,
    RestrictedToken,
    TokenDraft,
)
from turris_api.widgets import moments
from turris_api.widgets.add_new import AddNewMenu
from turris_api.widgets.forms import ClientForm, CredentialForm, TokenForm
from turris_api.widgets.guard import UNEXPECTED, Guarded, while_attached
from turris_api.widgets.slide_over import SlideOver
from turris_api.widgets.tables import ClientTable, CredentialTable, TokenTable
from turris_api.widgets.text import inert

BANNER_TITLE = "Configure your API"
BANNER_TEXT = (
    "The recommended access point is an API Client, which uses the secure OAuth client-credentials flow "
    "from your backend. Restricted Access Tokens are for front-end apps without a native backend."
)
NO_PERMISSION = "Read only: you do not have the permission to manage API credentials."
NO_CHANGES = "No changes to save."
POSTMAN_COLLECTION_PATH = "/postman/collection.json"  # the service's route (server/postman.py)


def postman_import(service_url: str | None) -> tuple[str, list[tuple[str, str]]]:
    """Where this service's own Postman collection is and how to import it, beside the workspace link."""
    remote = f"--remote {service_url} " if service_url else ""
    note = ("That is the Turris workspace. For this service's own collection, run the command below; in Postman "
            "choose Import and the two files it writes, pick the environment, paste your Client Secret.")
    more = [("Export command", f"turris-api {remote}postman export")]
    if service_url:
        more.append(("Or import by link", f"{service_url}{POSTMAN_COLLECTION_PATH}"))
    return note, more


def client_lock_reason(me: Me) -> str:
    if not me.member.can_manage_credentials:
        return NO_PERMISSION
    if me.member.role not in (ADMIN, DEVELOPER):
        return (
            "Read only: creating, editing or deleting an API Client needs the Admin or Developer role "
            f"(you are {me.member.role})."
        )
    return ""


class ApiPage(Guarded, Vertical):
    """The API settings page for one member."""

    # Its key bindings live on SettingsModal, so they work wherever focus is in the modal.
    ACTIONS = ("add_client", "add_token", "view_docs", "run_in_postman", "reload")

    @dataclass
    class CredentialsLoaded(Message):
        """A fresh listing arrived."""

        me: Me
        clients: list[ApiClient]
        tokens: list[RestrictedToken]

    @dataclass
    class ClientCreated(Message):
        """An API Client was created; this message carries its secret straight to the created modal."""

        client: ApiClient
        secret: str

        def __repr__(self) -> str:
            return f"ClientCreated(client={self.client!r})"

    @dataclass
    class TokenCreated(Message):
        """A Restricted Access Token was created; carries the value straight to the created modal."""

        token: RestrictedToken
        value: str

        def __repr__(self) -> str:
            return f"TokenCreated(token={self.token!r})"

    @dataclass
    class ClientRolled(Message):
        """An API Client's secret was rolled; carries the new one straight to the created modal."""

        client: ApiClient
        secret: str

        def __repr__(self) -> str:
            return f"ClientRolled(client={self.client!r})"

    @dataclass
    class TokenRolled(Message):
        """A Restricted Access Token was rolled; carries the new value straight to the created modal."""

        token: RestrictedToken
        value: str

        def __repr__(self) -> str:
            return f"TokenRolled(token={self.token!r})"

    @dataclass
    class OldEnded(Message):
        """The previous value of a roll stopped working."""

        kind: str
        name: str

    @dataclass
    class CredentialUpdated(Message):
        """A save went through; `changed` is False when the store found nothing to change."""

        kind: str
        name: str
        changed: bool = True

    @dataclass
    class CredentialDeleted(Message):
        kind: str
        name: str

    @dataclass
    class HistoryRequested(Message):
        """The user asked for a credential's history (Settings shows the Audit log page for it)."""

        credential_type: str
        credential_id: int
        name: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loaded = False
        self._shown: CredentialForm | None = None  # the form in the slide-over, or on its way there
        self._select: tuple[str, int] | None = None  # the row to put the cursor on once the listing has it

    @property
    def me(self) -> Me:
        """Who we are: the app's one copy, which every load refreshes."""
        return self.app.me

    # --- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="api-body") as body:
            body.can_focus = False  # the tables and buttons take focus; the first Tab must land on one
            with Vertical(id="api-banner"):
                yield Label(BANNER_TITLE, classes="banner-title")
                yield Static(BANNER_TEXT, classes="banner-text", markup=False)
            with Horizontal(id="api-toolbar"):
                yield Button("View Docs", id="view-docs")
                yield Button("Run in Postman", id="run-in-postman")
                yield AddNewMenu(id="add-new-menu")
            yield Static("Loading credentials…", id="api-empty", markup=False)
            with Vertical(id="clients-section", classes="credential-section"):
                yield Label("API Clients", classes="section-title")
                yield ClientTable(id="clients")
            with Vertical(id="tokens-section", classes="credential-section"):
                yield Label("Restricted Access Tokens", classes="section-title")
                yield TokenTable(id="tokens")
        yield SlideOver(id="slide-over")

    def on_mount(self) -> None:
        self.query_one("#clients-section").display = False
        self.query_one("#tokens-section").display = False
        self._show_me()
        self.watch(self.app, "me", lambda _: self._show_me(), init=False)
        self.query_one("#api-empty").loading = True  # the banner and buttons show at once; only the lists wait
        self.reload()

    def _show_me(self) -> None:
        self.query_one("#api-toolbar").display = self.me.sees_credential_controls
        self.screen.refresh_bindings()

    @property
    def slide_over(self) -> SlideOver:
        return self.query_one(SlideOver)

    @property
    def form(self) -> CredentialForm | None:
        found = self.slide_over.query(CredentialForm)
        return found.first() if found else None

    def allows(self, action: str) -> bool:
        """Whether `action` is offered to this member (the Add and link controls need the permission)."""
        if action in ("add_client", "add_token", "view_docs", "run_in_postman"):
            return self.me.sees_credential_controls
        return action in self.ACTIONS

    def perform(self, action: str) -> None:
        """Run one of ACTIONS if this member is offered it."""
        if self.allows(action):
            getattr(self, f"action_{action}")()

    # --- loading ------------------------------------------------------------

    def action_reload(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="store-read", exit_on_error=False, name="load")
    def reload(self) -> None:
        store = self.app.store
        me = store.me()
        clients, tokens = fetch_listing(store, me)
        if not get_current_worker().is_cancelled:  # a newer load is on its way: drop this one
            self.post_message(self.CredentialsLoaded(me, clients, tokens))

    @on(CredentialsLoaded)
    def show_credentials(self, event: CredentialsLoaded) -> None:
        self.app.me = event.me  # the page follows it (on_mount's watch)
        first, self.loaded = not self.loaded, True
        self.screen.refresh_bindings()
        self.query_one("#api-empty").loading = False
        clients, tokens = self.query_one(ClientTable), self.query_one(TokenTable)
        clients.show(event.clients)
        tokens.show(event.tokens)
        self.query_one("#clients-section").display = bool(event.clients)
        self.query_one("#tokens-section").display = bool(event.tokens)
        empty = self.query_one("#api-empty", Static)
        if not self.me.can_view:
            empty.update("Your organization's plan no longer includes API access.")
        elif event.clients or event.tokens:
            empty.update("")
        elif self.me.sees_credential_controls:
            empty.update(
                "No credentials yet. Choose Add New → API Client (or press a) to create a Client ID and "
                "Client Secret for your backend, or Restricted Access Token (t) for a browser-only app."
            )
        else:
            empty.update(
                "No credentials yet. Members with the permission to manage API credentials can create them here."
            )
        empty.display = not (event.clients or event.tokens)
        if self._select is not None:
            self._select_row(*self._select)
        elif first and not self.slide_over.visible and self.display:  # only the page on show takes focus
            focused = self.screen.focused
            if focused is None or focused.id in ("add-new", "settings-nav"):
                self.call_after_refresh(self.focus_default)

    def _select_row(self, table_id: str, record_id: int) -> None:
        """Put the cursor on the row of `record_id` (the one just created), if the listing has it."""
        table = self.query_one(f"#{table_id}", CredentialTable)
        if not table.select_record(record_id):
            return
        self._select = None
        if not self.slide_over.visible:
            table.focus()

    # --- slide-over ---------------------------------------------------------

    def open_form(self, form: CredentialForm) -> None:
        """Show `form` in the slide-over: focus it if it is already there, ask first if the open one has changes."""
        shown = self._shown
        if shown is not None and shown.same_as(form):
            if shown.is_mounted:
                shown.focus_first()
            return
        if shown is not None and shown.is_mounted and shown.is_dirty:
            from turris_api.screens.modals import discard_changes

            def decided(discard: bool | None) -> None:
                if discard and self._shown is shown:
                    self._show_form(form)

            self.app.push_screen(discard_changes(), decided)
            return
        self._show_form(form)

    def _show_form(self, form: CredentialForm | None) -> None:
        self._shown = form
        self.slide_over.visible = form is not None
        # One swap at a time, in this page's queue: a form is mounted only once the last has gone.
        self.call_later(self._swap, form)

    @while_attached
    async def _swap(self, form: CredentialForm | None) -> None:
        if form is not self._shown:
            return  # a later open or close superseded this one
        await self.slide_over.remove_children()
        if form is not None:
            await self.slide_over.mount(form)
            form.focus_first()
        else:
            self.focus_default()

    def close_form(self) -> None:
        self._show_form(None)

    def request_close_form(self, then: Callable[[], None] | None = None) -> None:
        """Close the slide-over, asking first if its form has unsaved input; then `then`, once it is closed."""
        shown = self._shown
        if shown is not None and shown.is_mounted and shown.is_dirty:
            from turris_api.screens.modals import discard_changes

            def decided(discard: bool | None) -> None:
                if discard and self._shown is shown:
                    self.close_form()
                    if then is not None:
                        then()

            self.app.push_screen(discard_changes(), decided)
            return
        self.close_form()
        if then is not None:
            then()

    @property
    def has_unsaved_input(self) -> bool:
        shown = self._shown
        return shown is not None and shown.is_mounted and shown.is_dirty

    def focus_default(self) -> None:
        """Focus the first table, else Add New, else nothing on the page (the navigation keeps it)."""
        if self._focus_table():
            return
        if self.me.sees_credential_controls:
            self.query_one("#add-new").focus()

    def _focus_table(self) -> bool:
        for table in self.query(CredentialTable):
            if table.parent.display:
                table.focus()
                return True
        return False

    def action_add_client(self) -> None:
        self.open_form(ClientForm(editable=self.me.can_manage_clients, reason=client_lock_reason(self.me), id="add-client"))

    def action_add_token(self) -> None:
        self.open_form(TokenForm(editable=self.me.can_manage_tokens, reason=NO_PERMISSION, id="add-token"))

    @on(AddNewMenu.Chosen)
    def add_new(self, event: AddNewMenu.Chosen) -> None:
        if event.kind == "client":
            self.action_add_client()
        elif event.kind == "token":
            self.action_add_token()

    @on(CredentialTable.RowChosen, "#clients")
    def open_client(self, event: CredentialTable.RowChosen) -> None:
        client = event.table.record(event.record_id)
        if client is not None:
            self.open_form(
                ClientForm(client, editable=self.me.can_manage_clients, reason=client_lock_reason(self.me), id="edit-client")
            )

    @on(CredentialTable.RowChosen, "#tokens")
    def open_token(self, event: CredentialTable.RowChosen) -> None:
        token = event.table.record(event.record_id)
        if token is not None:
            self.open_form(TokenForm(token, editable=self.me.can_manage_tokens, reason=NO_PERMISSION, id="edit-token"))

    @on(CredentialTable.CopyRequested)
    def copy_cell(self, event: CredentialTable.CopyRequested) -> None:
        self.app.copy_text(event.value, event.label)

    @on(CredentialForm.Cancelled)
    @on(SlideOver.CloseRequested)
    def cancel_form(self) -> None:
        self.request_close_form()

    @on(CredentialForm.HistoryRequested)
    def view_history(self, event: CredentialForm.HistoryRequested) -> None:
        event.stop()
        record = event.form.record
        if event.form is not self._shown or record is None:
            return
        kind = API_CLIENT if isinstance(event.form, ClientForm) else RESTRICTED_TOKEN
        self.request_close_form(then=lambda: self.post_message(self.HistoryRequested(kind, record.id, record.name)))

    # --- links --------------------------------------------------------------

    @on(Button.Pressed, "#view-docs")
    def action_view_docs(self) -> None:
        self.app.open_link("View Docs", self.app.links.docs)

    @on(Button.Pressed, "#run-in-postman")
    def action_run_in_postman(self) -> None:
        self.app.open_link("Run in Postman", self.app.links.postman, *postman_import(self.app.service_url))

    # --- saving -------------------------------------------------------------

    @on(CredentialForm.Submitted)
    def save(self, event: CredentialForm.Submitted) -> None:
        form = event.form
        if form is not self._shown or not form.is_mounted:
            return  # closed before its submission arrived (Enter, then Esc, faster than the page): not saved
        form.busy = True
        if isinstance(form, ClientForm):
            if form.record is None:
                self.create_client(event.values)
            else:
                self.update_client(form.record, event.values)
        elif form.record is None:
            self.create_token(event.values)
        else:
            self.update_token(form.record, event.values)

    @work(thread=True, group="store-write", exit_on_error=False, name="save")
    def create_client(self, draft: ClientDraft) -> None:
        created = self.app.store.create_client(draft)
        self.post_message(self.ClientCreated(created.client, created.secret))

    @work(thread=True, group="store-write", exit_on_error=False, name="save")
    def update_client(self, client: ApiClient, draft: ClientDraft) -> None:
        updated = self.app.store.update_client(client.id, draft, client.version)
        self.post_message(self.CredentialUpdated("API Client", updated.name, updated.version != client.version))

    @work(thread=True, group="store-write", exit_on_error=False, name="save")
    def create_token(self, draft: TokenDraft) -> None:
        created = self.app.store.create_token(draft)
        self.post_message(self.TokenCreated(created.token, created.value))

    @work(thread=True, group="store-write", exit_on_error=False, name="save")
    def update_token(self, token: RestrictedToken, draft: TokenDraft) -> None:
        updated = self.app.store.update_token(token.id, draft, token.version)
        self.post_message(self.CredentialUpdated("Restricted Access Token", updated.name, updated.version != token.version))

    @on(ClientCreated)
    def client_created(self, event: ClientCreated) -> None:
        from turris_api.screens.modals import ClientCreatedModal

        self._select = ("clients", event.client.id)
        self.close_form()
        self.reload()
        self.app.push_screen(
            ClientCreatedModal(event.client.name, event.client.client_id, event.secret, bool(event.client.allowed_origins))
        )
        event.secret = ""

    @on(TokenCreated)
    def token_created(self, event: TokenCreated) -> None:
        from turris_api.screens.modals import TokenCreatedModal

        self._select = ("tokens", event.token.id)
        self.close_form()
        self.reload()
        self.app.push_screen(TokenCreatedModal(event.token.name, event.value))
        event.value = ""

    @on(CredentialUpdated)
    def credential_updated(self, event: CredentialUpdated) -> None:
        if not event.changed:
            form = self.form
            if form is not None:
                form.busy = False
            self.app.notify(NO_CHANGES, title="Nothing to save", markup=False)
            return
        self.close_form()
        self.reload()
        self.app.notify(f"{event.kind} “{event.name}” was updated.", title="Saved", markup=False)

    # --- rolling ------------------------------------------------------------

    @on(CredentialForm.RollRequested)
    def roll(self, event: CredentialForm.RollRequested) -> None:
        form = event.form
        if form is not self._shown or not form.is_mounted or form.record is None or form.busy:
            return
        form.busy = True
        if isinstance(form, ClientForm):
            self.roll_client(form.record, event.keep_old_for)
        else:
            self.roll_token(form.record, event.keep_old_for)

    @work(thread=True, group="store-write", exit_on_error=False, name="roll")
    def roll_client(self, client: ApiClient, keep_old_for: str) -> None:
        rolled = self.app.store.roll_client(client.id, keep_old_for)
        self.post_message(self.ClientRolled(rolled.client, rolled.secret))

    @work(thread=True, group="store-write", exit_on_error=False, name="roll")
    def roll_token(self, token: RestrictedToken, keep_old_for: str) -> None:
        rolled = self.app.store.roll_token(token.id, keep_old_for)
        self.post_message(self.TokenRolled(rolled.token, rolled.value))

    @on(ClientRolled)
    def client_rolled(self, event: ClientRolled) -> None:
        from turris_api.screens.modals import ClientCreatedModal

        client = event.client
        self._select = ("clients", client.id)
        self.close_form()
        self.reload()
        note = _old_note("secret", client.old_secret_last4, client.old_until(moments.now()))
        self.app.push_screen(ClientCreatedModal(client.name, client.client_id, event.secret,
                                                bool(client.allowed_origins), rolled=note))
        event.secret = ""

    @on(TokenRolled)
    def token_rolled(self, event: TokenRolled) -> None:
        from turris_api.screens.modals import TokenCreatedModal

        token = event.token
        self._select = ("tokens", token.id)
        self.close_form()
        self.reload()
        note = _old_note("token", token.old_token_last4, token.old_until(moments.now()))
        self.app.push_screen(TokenCreatedModal(token.name, event.value, rolled=note))
        event.value = ""

    @on(CredentialForm.EndOldRequested)
    def end_old(self, event: CredentialForm.EndOldRequested) -> None:
        form = event.form
        if form is not self._shown or not form.is_mounted or form.record is None or form.busy:
            return
        form.busy = True
        self.end_old_value(isinstance(form, ClientForm), form.record)

    @work(thread=True, group="store-write", exit_on_error=False, name="roll")
    def end_old_value(self, is_client: bool, record: ApiClient | RestrictedToken) -> None:
        if is_client:
            self.app.store.end_old_client(record.id)
            self.post_message(self.OldEnded("secret", record.name))
        else:
            self.app.store.end_old_token(record.id)
            self.post_message(self.OldEnded("token", record.name))

    @on(OldEnded)
    def old_ended(self, event: OldEnded) -> None:
        self.close_form()
        self.reload()
        self.app.notify(f"The old {event.kind} of “{event.name}” no longer works.", title="Old value ended",
                        markup=False)

    # --- deleting -----------------------------------------------------------

    @on(CredentialForm.DeleteRequested)
    def confirm_delete(self, event: CredentialForm.DeleteRequested) -> None:
        from turris_api.screens.modals import ConfirmDelete

        form = event.form
        if form is not self._shown or not form.is_mounted or form.record is None:
            return  # closed before its request arrived
        record = form.record
        kind = "API Client" if isinstance(form, ClientForm) else "Restricted Access Token"

        def decided(confirmed: bool | None) -> None:
            if confirmed:  # what the confirmation named is deleted, even if its form has closed since
                if form is self._shown:
                    form.busy = True
                self.delete_credential(kind, record)

        self.app.push_screen(ConfirmDelete(kind, record.name), decided)

    @work(thread=True, group="store-write", exit_on_error=False, name="delete")
    def delete_credential(self, kind: str, record: ApiClient | RestrictedToken) -> None:
        if kind == "API Client":
            self.app.store.delete_client(record.id)
        else:
            self.app.store.delete_token(record.id)
        self.post_message(self.CredentialDeleted(kind, record.name))

    @on(CredentialDeleted)
    def credential_deleted(self, event: CredentialDeleted) -> None:
        self.close_form()
        self.reload()
        self.app.notify(f"{event.kind} “{event.name}” was deleted.", title="Deleted", markup=False)

    # --- failures -----------------------------------------------------------

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        if event.worker.name == "load":
            self.query_one("#api-empty").loading = False
            empty = self.query_one("#api-empty", Static)
            empty.update(inert(f"Could not load the credentials: {err if isinstance(err, StoreError) else UNEXPECTED} "
                               "Press r to try again."))
            empty.display = True
        form = self.form
        if form is not None and event.worker.name in ("save", "delete", "roll"):
            form.busy = False
            if isinstance(err, Invalid) and form.show_error(err.field, str(err)):
                return  # shown at the field; a toast would only cover the form
        self.app.report_error(err)


def _old_note(kind: str, last4: str | None, until) -> str:
    """What a roll did to the old value, for the modal that shows the new one."""
    if until is None or last4 is None:
        return f"The old {kind} stopped working at once."
    return (f"The old {kind} ••••{last4} keeps working until {moments.stamp(until)}: deploy the new one before "
            "then, or end the old one sooner from this credential's panel.")
