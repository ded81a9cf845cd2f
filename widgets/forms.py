"""The slide-over forms for API Clients and Restricted Access Tokens. They post what was typed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from turris_api.store.models import DEFAULT_OVERLAP, ApiClient, ClientDraft, RestrictedToken, TokenDraft, is_expired
from turris_api.widgets import moments
from turris_api.widgets.guard import Guarded
from turris_api.widgets.text import inert

SUPPORT_EMAIL = "support@turris.com"
NO_ORIGINS_WARNING = "⚠ No Allowed Origins: requests from any browser origin will be accepted."
DEFAULT_KEEP_OLD = f"{int(DEFAULT_OVERLAP.total_seconds() // 3600)}h"
KEEP_OLD_FOR = "keep_old_for"  # the roll's field, named as the store names it in an error


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the store's field name, as in Invalid.field
    label: str
    placeholder: str
    required: bool = False
    hint: str = ""


EXPIRES_FIELD = FieldSpec("expires", "Expires", "never, or 90d, or 2027-03-31",
                          hint="A time from now (90d, 12w) or a date (UTC); empty for never, within your "
                               "organization's policy.")


class CredentialForm(Guarded, Vertical):
    """Fields, per-field errors, and Add (new) or Update + Delete (existing) buttons."""

    TITLE_NEW: ClassVar[str] = ""
    TITLE_EXISTING: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = ()

    @dataclass
    class Submitted(Message):
        """Add or Update was pressed with these values (as typed)."""

        form: CredentialForm
        values: ClientDraft | TokenDraft

        @property
        def control(self) -> CredentialForm:
            return self.form

    @dataclass
    class DeleteRequested(Message):
        """Delete was pressed for the record the form shows."""

        form: CredentialForm

        @property
        def control(self) -> CredentialForm:
            return self.form

    @dataclass
    class RollRequested(Message):
        """Roll secret was pressed: a new value, the current one working for `keep_old_for` more."""

        form: CredentialForm
        keep_old_for: str

        @property
        def control(self) -> CredentialForm:
            return self.form

    @dataclass
    class EndOldRequested(Message):
        """End old was pressed: the previous value of a roll should stop working now."""

        form: CredentialForm

        @property
        def control(self) -> CredentialForm:
            return self.form

    @dataclass
    class HistoryRequested(Message):
        """View history was pressed: the audit log of the record the form shows."""

        form: CredentialForm

        @property
        def control(self) -> CredentialForm:
            return self.form

    @dataclass
    class Cancelled(Message):
        """Cancel was pressed."""

        form: CredentialForm

        @property
        def control(self) -> CredentialForm:
            return self.form

    BINDINGS = [Binding("ctrl+s", "submit", "Save")]

    def __init__(self, record=None, *, editable: bool = True, reason: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.record = record
        self.editable = editable
        self.reason = reason

    @property
    def is_new(self) -> bool:
        return self.record is None

    def initial(self, field: str) -> str:
        if field == "expires" and self.record is not None and self.record.expires_at is not None:
            return self.record.expires_at.strftime("%Y-%m-%d %H:%M")
        return ""

    def expires(self):
        """What the Expires field asks for: the stored time itself while the field is as it opened."""
        typed = self.value("expires")
        if self.record is not None and typed == self.initial("expires"):
            return self.record.expires_at
        return typed

    def compose_value_lines(self, label: str, kind: str, last4: str, old_last4: str | None) -> ComposeResult:
        """The secret's last four, the old one's while a roll's overlap lasts, expiry, last use, and Roll."""
        record, at = self.record, moments.now()
        yield Label(label, classes="field-label")
        yield Static(inert(f"••••{last4}  (shown only once: roll it for a new one)"), classes="field-readonly",
                     id="current-value")
        until = record.old_until(at)
        if until is not None and old_last4 is not None:
            yield Static(inert(f"Old {kind} ••••{old_last4} works until {moments.stamp(until)} "
                               f"({moments.left(until, at)})"), classes="field-warning", id="old-value")
        if is_expired(record.expires_at, at):
            yield Static(inert(f"Expired {moments.stamp(record.expires_at)}: refused everywhere. Give it a new "
                               "expiry or delete it."), classes="form-locked", id="expiry-note")
        elif moments.expiring_soon(record.expires_at, at):
            yield Static(inert(f"Expires {moments.stamp(record.expires_at)} ({moments.left(record.expires_at, at)})"),
                         classes="field-warning", id="expiry-note")
        used = "Never used" if record.last_used_at is None else f"Last used {moments.ago(record.last_used_at, at)}"
        if record.last_used_at is not None and getattr(record, "last_used_ip", None):
            used += f" from {record.last_used_ip}"
        yield Static(inert(used), classes="field-hint", id="last-used")
        with Horizontal(classes="roll-row"):
            yield Label("Keep old for", classes="roll-label")
            yield Input(DEFAULT_KEEP_OLD, id=KEEP_OLD_FOR, classes="roll-input", select_on_focus=False)
            yield Button(f"Roll {kind}", id="roll")
            if until is not None:
                yield Button("End old", id="end-old")
        yield Static("", id=f"{KEEP_OLD_FOR}-error", classes="field-error", markup=False)

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE_NEW if self.is_new else self.TITLE_EXISTING, classes="form-title")
        if not self.editable:
            yield Static(inert(self.reason), classes="form-locked")
        with VerticalScroll(classes="form-scroll") as scroll, \
                Vertical(classes="form-fields", disabled=not self.editable) as fields:
            # Tab goes field to field (each scrolls itself into view); a locked form has no fields to
            # focus, so there the box itself takes focus, to scroll by keyboard.
            scroll.can_focus = not self.editable
            if not self.editable:
                fields.tooltip = self.reason
            for spec in self.FIELDS:
                label = f"{spec.label} *" if spec.required else spec.label
                yield Label(label, classes="field-label")
                yield Input(self.initial(spec.name), placeholder=spec.placeholder, id=spec.name, select_on_focus=False)
                yield Static("", id=f"{spec.name}-error", classes="field-error", markup=False)
                if spec.hint:
                    yield Static(spec.hint, classes="field-hint", markup=False)
            yield from self.compose_extra()
        if not self.is_new:  # outside the fields: anyone who can open the panel may read its history
            with Horizontal(classes="form-links"):
                yield Button("View history", id="view-history", compact=True,
                             tooltip="Every change to this credential, newest first, on the Audit log page")
        with Horizontal(classes="form-buttons"):
            if self.is_new:
                yield Button("Add", id="submit", variant="primary", disabled=not self.editable)
            else:
                yield Button("Update", id="submit", variant="primary", disabled=not self.editable)
                yield Button("Delete", id="delete", variant="error", disabled=not self.editable)
            yield Button("Cancel", id="cancel")

    def compose_extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        if not self.editable:
            for button in self.query("#submit, #delete").results(Button):
                button.tooltip = self.reason

    def focus_first(self) -> None:
        # Without scrolling, so the first field's label stays in view on small terminals. Nothing
        # to focus if the form was closed while it was being shown (keys faster than the swap).
        found = self.query(Input) if self.editable else self.query("#cancel")
        if found:
            found.first().focus(scroll_visible=False)

    @property
    def is_dirty(self) -> bool:
        """Whether any field differs from what the form opened with (closing would lose it)."""
        return self.editable and any(self.value(spec.name) != self.initial(spec.name) for spec in self.FIELDS)

    def same_as(self, other: CredentialForm) -> bool:
        """Whether `other` would show the same thing: same kind, same record (or both new)."""
        mine = None if self.record is None else self.record.id
        theirs = None if other.record is None else other.record.id
        return type(self) is type(other) and mine == theirs

    def value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value

    def draft(self) -> ClientDraft | TokenDraft:
        raise NotImplementedError

    def error_fields(self) -> list[str]:
        """The fields that show their errors under themselves: the form's, and the roll's when it has one."""
        fields = [spec.name for spec in self.FIELDS]
        return fields + [KEEP_OLD_FOR] if self.query(f"#{KEEP_OLD_FOR}") else fields

    def show_error(self, field: str, message: str) -> bool:
        """Show `message` under `field`; False if the form has no such field."""
        if field not in self.error_fields():
            return False
        error = self.query_one(f"#{field}-error", Static)
        error.update(inert(message))
        error.add_class("-shown")
        self.query_one(f"#{field}", Input).add_class("-invalid-value")
        self.query_one(f"#{field}", Input).focus()
        return True

    def clear_errors(self, fields: Sequence[str] | None = None) -> None:
        """Clear the errors under `fields`: by default the form's own, which saving checks again."""
        for field in fields if fields is not None else [spec.name for spec in self.FIELDS]:
            error = self.query_one(f"#{field}-error", Static)
            error.update("")
            error.remove_class("-shown")
            self.query_one(f"#{field}", Input).remove_class("-invalid-value")

    @property
    def busy(self) -> bool:
        return self.query_one("#submit", Button).loading

    @busy.setter
    def busy(self, value: bool) -> None:
        self.query_one("#submit", Button).loading = value

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.editable if action == "submit" else True

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def submit(self, event: Message) -> None:
        event.stop()
        if isinstance(event, Input.Submitted) and event.input.id == KEEP_OLD_FOR:
            self.request_roll()
            return
        self.action_submit()

    @on(Button.Pressed, "#roll")
    def roll(self, event: Button.Pressed) -> None:
        event.stop()
        self.request_roll()

    def request_roll(self) -> None:
        self.clear_errors([KEEP_OLD_FOR])
        self.post_message(self.RollRequested(self, self.query_one(f"#{KEEP_OLD_FOR}", Input).value))

    @on(Button.Pressed, "#end-old")
    def end_old(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.EndOldRequested(self))

    def action_submit(self) -> None:
        # Busy at once, not when the page gets the message: a second Enter 50 ms later must find it so.
        if self.editable and not self.busy:
            self.busy = True
            self.clear_errors()
            self.post_message(self.Submitted(self, self.draft()))

    @on(Button.Pressed, "#delete")
    def delete(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.DeleteRequested(self))

    @on(Button.Pressed, "#view-history")
    def view_history(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.HistoryRequested(self))

    @on(Button.Pressed, "#cancel")
    def cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Cancelled(self))


class ClientForm(CredentialForm):
    """Add API Client / an existing API Client."""

    TITLE_NEW = "Add API Client"
    TITLE_EXISTING = "API Client"
    FIELDS = (
        FieldSpec("name", "Client Name", "e.g. Policy admin sync", required=True),
        FieldSpec("description", "Description", "What the client does or which system it belongs to"),
        FieldSpec(
            "allowed_origins",
            "Allowed Origins",
            "https://app.example.com, https://admin.example.com",
            hint="Comma-separated browser origins allowed to use this client.",
        ),
        EXPIRES_FIELD,
    )

    record: ApiClient | None

    def initial(self, field: str) -> str:
        if self.record is None:
            return ""
        if field == "allowed_origins":
            return ", ".join(self.record.allowed_origins)
        if field == "expires":
            return super().initial(field)
        return getattr(self.record, field)

    def compose_extra(self) -> ComposeResult:
        if self.record is not None and self.record.status != "active":
            note = inert(f"This API Client is {self.record.status}: it cannot get new tokens. To keep it in service, "
                         f"contact {SUPPORT_EMAIL} to have it re-enabled; otherwise delete it and remove it from "
                         "your integration.")
            note.no_wrap = False
            yield Static(note, id="status-note", classes="form-locked")
        if self.record is not None:
            yield Label("Client ID", classes="field-label")
            yield Static(inert(self.record.client_id), classes="field-readonly")
            yield from self.compose_value_lines("Client Secret", "secret", self.record.secret_last4,
                                                self.record.old_secret_last4)
        yield Static(NO_ORIGINS_WARNING, id="origins-warning", classes="field-warning", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._update_origins_warning()

    @on(Input.Changed, "#allowed_origins")
    def _update_origins_warning(self) -> None:
        self.query_one("#origins-warning").display = not self.value("allowed_origins").strip()

    def draft(self) -> ClientDraft:
        return ClientDraft(
            name=self.value("name"),
            description=self.value("description"),
            allowed_origins=self.value("allowed_origins"),
            expires=self.expires(),
        )


class TokenForm(CredentialForm):
    """Add Restricted Access Token / an existing token."""

    TITLE_NEW = "Add Restricted Access Token"
    TITLE_EXISTING = "Restricted Access Token"
    FIELDS = (
        FieldSpec("name", "Token Name", "e.g. Partner portal", required=True),
        FieldSpec(
            "allowed_ips",
            "Allowed IP Addresses",
            "203.0.113.10, 198.51.100.0/24",
            required=True,
            hint="Comma-separated addresses or CIDR ranges allowed to use this token.",
        ),
        EXPIRES_FIELD,
    )

    record: RestrictedToken | None

    def initial(self, field: str) -> str:
        if self.record is None:
            return ""
        if field == "allowed_ips":
            return ", ".join(self.record.allowed_ips)
        if field == "expires":
            return super().initial(field)
        return getattr(self.record, field)

    def compose_extra(self) -> ComposeResult:
        if self.record is not None:
            yield from self.compose_value_lines("Token", "token", self.record.token_last4, self.record.old_token_last4)
        yield Static(
            "Restricted Access Tokens reach only a small subset of API endpoints. "
            "For broader coverage, use an API Client.",
            classes="field-hint",
            markup=False,
        )

    def draft(self) -> TokenDraft:
        return TokenDraft(name=self.value("name"), allowed_ips=self.value("allowed_ips"), expires=self.expires())
