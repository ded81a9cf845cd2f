"""`turris-api`: the app with no subcommand; scriptable credential commands otherwise.

Exit codes: 0 ok, 2 bad input, 3 permission denied, 4 not found, 5 conflict, 1 anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from turris_api.store import shapes, validation
from turris_api.store.errors import Invalid, StoreError, Unavailable
from turris_api.store.interface import CredentialStore
from turris_api.store.models import (
    API_CLIENT,
    CLIENT_STATUSES,
    RESTRICTED_TOKEN,
    ApiClient,
    ClientDraft,
    CreatedClient,
    CreatedToken,
    RestrictedToken,
    TokenDraft,
)

EXIT_UNEXPECTED = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader left
LOCAL_ONLY = "works on a local database only (drop --remote and use --db)"
DISTRIBUTION = "turris-api-settings"
SHELLS = ("bash", "zsh", "fish")
FORMATS = ("table", "tsv", "json")


class UsageError(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("arguments", message)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class VersionAction(argparse.Action):
    """--version, reading the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"turris-api {package_version()}")
        parser.exit(0)


def build_parser() -> Parser:
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output (errors too, on stderr)")
    listing = argparse.ArgumentParser(add_help=False, parents=[as_json])
    listing.add_argument("--format", choices=FORMATS,
                         help="table on a terminal, else tsv (a header line, then tab-separated rows); --json is json")

    expiring = argparse.ArgumentParser(add_help=False)
    when = expiring.add_mutually_exclusive_group()
    when.add_argument("--expires-in", metavar="TIME", help="stop working after this long, e.g. 90d, 12w or 48h")
    when.add_argument("--expires-at", metavar="DATE", help="stop working at the end of this day (UTC), e.g. 2027-03-31, "
                                                          "or at an ISO 8601 time")
    rolling = argparse.ArgumentParser(add_help=False, parents=[as_json])
    rolling.add_argument("id")
    rolling.add_argument("--keep-old-for", default="24h", metavar="TIME",
                         help="how long the current value keeps working: 0 (ends it now), 30m, 24h (default), "
                              "up to 30d")

    parser = Parser(prog="turris-api", description="Turris API Settings: API Clients and Restricted Access Tokens.")
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the store (default: $TURRIS_DB_URL or a local file)")
    parser.add_argument("--as", dest="as_email", metavar="EMAIL",
                        help="act as this member of the local store (an email, or a member id where the email is "
                             "in several organizations)")
    parser.add_argument("--remote", metavar="URL", help="use the credential service at URL (token: $TURRIS_MEMBER_TOKEN)")
    parser.add_argument("--open", metavar="LINK", help='start on a page, e.g. "?settings-modal=open&path=api"')
    commands = parser.add_subparsers(dest="command", parser_class=Parser)

    client = commands.add_parser("client", help="API Clients").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = client.add_parser("create", parents=[as_json, expiring], help="create an API Client; prints the secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--origins", default="", help='comma-separated origins, e.g. "https://app.example.com"')
    client.add_parser("list", parents=[listing])
    p = client.add_parser("show", parents=[as_json])
    p.add_argument("id", help="internal id or Client ID")
    p = client.add_parser("update", parents=[as_json, expiring])
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--origins")
    p.add_argument("--no-expiry", action="store_true", help="never expire (within the organization's policy)")
    p.add_argument("--if-version", type=int, metavar="V",
                   help="apply only if still at version V, as show printed it (else exit 5, conflict)")
    p = client.add_parser("delete", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="confirm: deletion is immediate and permanent")
    client.add_parser("roll", parents=[rolling], help="a new Client Secret, printed once; the Client ID stays")
    p = client.add_parser("end-old", parents=[as_json], help="the previous secret of a roll stops working now")
    p.add_argument("id")
    p = client.add_parser("set-status", parents=[as_json], help="operator: enable (active) or disable a client")
    p.add_argument("id")
    p.add_argument("status", choices=CLIENT_STATUSES, help="active: may get tokens; disabled: may not")

    token = commands.add_parser("token", help="Restricted Access Tokens").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = token.add_parser("create", parents=[as_json, expiring], help="create a token; prints it once")
    p.add_argument("--name", required=True)
    p.add_argument("--ips", required=True, help='comma-separated IP addresses or CIDR ranges')
    token.add_parser("list", parents=[listing])
    p = token.add_parser("show", parents=[as_json])
    p.add_argument("id")
    p = token.add_parser("update", parents=[as_json, expiring])
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--ips")
    p.add_argument("--no-expiry", action="store_true", help="never expire (within the organization's policy)")
    p.add_argument("--if-version", type=int, metavar="V",
                   help="apply only if still at version V, as show printed it (else exit 5, conflict)")
    p = token.add_parser("delete", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--yes", action="store_true")
    token.add_parser("roll", parents=[rolling], help="a new token value, printed once")
    p = token.add_parser("end-old", parents=[as_json], help="the previous value of a roll stops working now")
    p.add_argument("id")

    member = commands.add_parser("member", help="members").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = member.add_parser("add", parents=[as_json])
    p.add_argument("email")
    p.add_argument("--role", required=True, help="admin, developer, or another role such as member")
    p.add_argument("--can-manage-credentials", action="store_true")
    p.add_argument("--name", default="", help="display name")
    member.add_parser("list", parents=[listing])
    p = member.add_parser("set-role", parents=[as_json], help="change a member's role or credential permission")
    p.add_argument("email", help="the member's email or id")
    p.add_argument("role", help="admin, developer, or another role such as member")
    p.add_argument("--can-manage-credentials", action=argparse.BooleanOptionalAction, default=None,
                   help="grant or withdraw the credential permission (unchanged if not given)")
    p = member.add_parser("remove", parents=[as_json], help="remove a member; their member access tokens stop working")
    p.add_argument("email", help="the member's email or id")
    p.add_argument("--yes", action="store_true", help="confirm: removal is immediate")
    p = member.add_parser("token", parents=[listing], help="operator: member access tokens for --remote",
                          description="EMAIL issues a token (shown once); list [EMAIL] lists tokens, never their "
                                      "values; revoke ID revokes one at once. EMAIL may be a member id, which names "
                                      "the member when the address is in several organizations.")
    p.add_argument("words", nargs="+", metavar="EMAIL | list [EMAIL] | revoke ID")
    p.add_argument("--expires-in", default="90d", metavar="TIME",
                   help="lifetime of an issued token: 1d to 365d, e.g. 30d, 12w, 48h (default 90d)")

    org = commands.add_parser("org", help="organization").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = org.add_parser("plan", parents=[as_json], help="operator: switch the plan's API access")
    p.add_argument("--api-access", choices=["on", "off"], required=True)
    p = org.add_parser("policy", parents=[as_json], help="admins: cap how long new credentials may live")
    p.add_argument("--max-lifetime", required=True, metavar="TIME",
                   help="e.g. 365d: longer expiries are refused, and none means this; 'none' lifts the cap")

    p = commands.add_parser("audit", parents=[listing], help="recent changes: credentials, members, plan, keys")
    p.add_argument("--limit", type=int, default=50, help="how many events, newest first (1 to 1000, default 50)")
    p.add_argument("--before", type=int, metavar="EVENT", help="only events older than this event id: the next page")
    about = p.add_mutually_exclusive_group()
    about.add_argument("--client", metavar="ID", help="only the history of this API Client (internal id or Client ID)")
    about.add_argument("--token", metavar="ID", help="only the history of this Restricted Access Token (internal id)")

    p = commands.add_parser("migrate", parents=[as_json], help="bring the store's schema up to date")
    p.add_argument("--check", action="store_true", help="only report pending migrations; exit 1 if there are any")
    p = commands.add_parser("init", parents=[as_json], help="set up a new server store: its organization and first admin")
    p.add_argument("--org", required=True, metavar="NAME", help="the organization's name")
    p.add_argument("--admin", required=True, metavar="EMAIL", help="its first admin (holds the credential permission)")
    p.add_argument("--admin-name", default="", metavar="NAME", help="the admin's display name")
    p = commands.add_parser("backup", parents=[as_json], help="copy an SQLite store, consistent while it is in use")
    p.add_argument("file", help="the backup file to write (created readable by you only)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p = commands.add_parser("restore", parents=[as_json], help="replace the SQLite store with a backup")
    p.add_argument("file", help="a file written by turris-api backup")
    p.add_argument("--force", action="store_true", help="replace an existing store (every credential in it)")

    p = commands.add_parser("serve", help="run the credential service")
    p.add_argument("--migrate", action="store_true", help="apply pending migrations first (else a store that needs "
                   "them is refused)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")
    p.add_argument("--trusted-proxy", action="append", metavar="CIDR",
                   help="a proxy whose X-Forwarded-For is believed (repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (one per core suits a busy token endpoint)")
    p.add_argument("--config", metavar="FILE", help="a TOML file of settings (flags and TURRIS_* override it)")
    p.add_argument("--log-format", choices=["plain", "json"], help="log lines as text (default) or JSON")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--print-config", action="store_true", help="print the effective configuration (no secrets) "
                   "and exit")

    postman = commands.add_parser("postman", help="Postman: this service's API as a collection").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    p = postman.add_parser("export", parents=[as_json], help="write a Postman collection and environment to import",
                           description="Writes turris-api.postman_collection.json and turris-api.postman_environment.json "
                                       "(replacing earlier exports). No secret goes into either: paste the Client "
                                       "Secret in Postman.")
    p.add_argument("--out", default=".", metavar="DIR", help="the folder to write them to (default: the current one)")
    p.add_argument("--issuer", metavar="URL", help="where clients reach the service (default: the --remote URL, "
                   "else serve's issuer from TURRIS_ISSUER or its configuration file)")
    p.add_argument("--client-id", default="", metavar="ID", help="the Client ID to fill in (trs_ci_...)")

    keys = commands.add_parser("keys", help="JWT signing keys").add_subparsers(dest="action", required=True, parser_class=Parser)
    keys.add_parser("rotate", parents=[as_json], help="a new key signs from now on; the old one verifies until expiry")

    p = commands.add_parser("completion", help="print shell completion code: eval \"$(turris-api completion bash)\"")
    p.add_argument("shell", choices=SHELLS)
    return parser


# --- building the store ------------------------------------------------------


def open_database(args: argparse.Namespace, *, set_up: bool = True):
    """The store's database. An SQLite file (the embedded store) is set up on first use; a server
    database must be set up explicitly (migrate, init), and is refused until it is."""
    from turris_api.store.database import Database, sqlite_file
    from turris_api.store.operator import bootstrap

    db = Database(args.db, migrate=False)
    for warning in db.warnings:
        print(f"turris-api: warning: {warning}", file=sys.stderr)
    if not set_up:
        return db
    if sqlite_file(db.url) is not None:
        db.migrate()
        bootstrap(db)
    elif pending := db.pending_migrations():
        db.dispose()
        raise Unavailable(f"The store ({db.description}) needs its schema first (pending migrations: "
                          f"{', '.join(pending)}): run turris-api --db URL migrate, then init if it is new.")
    return db


def open_store(args: argparse.Namespace) -> CredentialStore:
    return store_opener(args)[0]()


def opening_store(args: argparse.Namespace) -> CredentialStore:
    """The app's store, already opening in a thread of its own: importing the store's libraries then
    overlaps the app's imports and first paint; the app's first store call, in a worker, waits for it."""
    from turris_api.store.lazy import LazyStore

    store = LazyStore(*store_opener(args))
    store.open_in_background()
    return store


def store_opener(args: argparse.Namespace) -> tuple[Callable[[], CredentialStore], str]:
    """Check the store arguments now (asking for a member token if needed); open the store later.

    Returns the opener and what to call the store until it is open.
    """
    if args.remote:
        if args.as_email or args.db:
            raise UsageError("--remote acts as the member whose token you give; drop --as and --db")
        token = member_token()

        def open_remote() -> CredentialStore:
            from turris_api.store.remote import RemoteStore

            return RemoteStore(args.remote, token)

        return open_remote, f"remote {args.remote}"

    def open_local() -> CredentialStore:
        from turris_api.store.local import LocalStore

        return LocalStore(open_database(args), args.as_email)

    return open_local, "local store"  # not the URL: a PostgreSQL one may carry a password


def member_token() -> str:
    token = os.environ.get("TURRIS_MEMBER_TOKEN", "").strip()
    if not token and sys.stdin.isatty():
        token = getpass.getpass("Member access token (turris-api member token EMAIL): ").strip()
    if not token:
        raise UsageError("--remote needs a member access token in TURRIS_MEMBER_TOKEN (or typed at the prompt)")
    return token


def local_only(args: argparse.Namespace) -> None:
    if args.remote:
        raise UsageError(f"{args.command} {getattr(args, 'action', '')} {LOCAL_ONLY}".replace("  ", " "))


# --- output ------------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(shapes.to_json(data), indent=2))
    else:
        human()


def listing_format(args: argparse.Namespace) -> str:
    if args.json:
        return "json"
    return args.format or ("table" if sys.stdout.isatty() else "tsv")


def emit_rows(args: argparse.Namespace, data: Any, headers: Sequence[str], rows: Sequence[Sequence[str]],
              empty: str) -> None:
    """A listing as JSON, tab-separated values (for scripts) or an aligned table (for people)."""
    fmt = listing_format(args)
    if fmt == "json":
        print(json.dumps(shapes.to_json(data), indent=2))
    elif fmt == "tsv":
        for row in (headers, *rows):
            print("\t".join(printable(str(cell)) for cell in row))
    elif rows:
        table(rows, headers)
    else:
        print(empty)


def printable(value: str) -> str:
    """User-typed text as the app shows it: invisible and control characters written out."""
    return validation.printable(value)


def mask(last4: str) -> str:
    """The seed's ••••abcd, or ****abcd where stdout cannot encode the bullet."""
    try:
        "•".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return f"****{last4}"
    return f"••••{last4}"


def client_lines(c: ApiClient) -> list[str]:
    now = datetime.now(UTC)
    return [
        f"id:              {c.id}",
        f"name:            {printable(c.name)}",
        f"description:     {printable(c.description) or '-'}",
        f"Client ID:       {c.client_id}",
        f"Client Secret:   {mask(c.secret_last4)}{old_value(c.old_secret_last4, c.old_until(now))}",
        f"Allowed Origins: {', '.join(c.allowed_origins) or '(any origin)'}",
        f"status:          {c.shown_status(now)}",
        f"expires:         {moment(c.expires_at, 'never')}",
        f"last used:       {moment(c.last_used_at, 'never')}",
        f"version:         {c.version}",
    ]


def token_lines(t: RestrictedToken) -> list[str]:
    now = datetime.now(UTC)
    used = moment(t.last_used_at, "never") + (f" from {t.last_used_ip}" if t.last_used_at and t.last_used_ip else "")
    return [
        f"id:          {t.id}",
        f"name:        {printable(t.name)}",
        f"Token:       {mask(t.token_last4)}{old_value(t.old_token_last4, t.old_until(now))}",
        f"Allowed IPs: {', '.join(t.allowed_ips)}",
        f"status:      {t.shown_status(now)}",
        f"expires:     {moment(t.expires_at, 'never')}",
        f"last used:   {used}",
        f"version:     {t.version}",
    ]


def old_value(last4: str | None, until: datetime | None) -> str:
    """The previous value of a roll, while it works."""
    return "" if until is None or last4 is None else f" (old {mask(last4)} works until {moment(until)} UTC)"


def given_expiry(args: argparse.Namespace, current: datetime | None = None) -> str | datetime | None:
    """What --expires-in, --expires-at or --no-expiry asked for; else `current` (an update keeps it)."""
    if getattr(args, "no_expiry", False):
        return None
    return args.expires_in or args.expires_at or current


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    shown = [[printable(str(cell)) for cell in row] for row in (headers, *rows)]
    widths = [max(len(x) for x in col) for col in zip(*shown, strict=True)]
    for row in shown:
        print("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())


# --- commands ----------------------------------------------------------------


def audit_subject(args: argparse.Namespace, store: CredentialStore) -> tuple[str | None, int | None]:
    """The credential --client or --token names, as (type, id); a deleted one's history by its internal id."""
    if args.client is not None:
        ref = args.client.strip()
        return API_CLIENT, int(ref) if ref.isdigit() and ref.isascii() else store.get_client(ref).id
    if args.token is not None:
        ref = args.token.strip()
        if not (ref.isdigit() and ref.isascii()):
            raise Invalid("token", f"--token {validation.shown(ref)} is not an internal id (digits, as token list "
                                   "prints them).", ref)
        return RESTRICTED_TOKEN, int(ref)
    return None, None


def client_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "create":
        created = store.create_client(ClientDraft(args.name, args.description, args.origins, given_expiry(args)))
        emit(args, shapes.created_client_json(created), lambda: print_created_client(created))
    elif args.action == "list":
        clients = store.list_clients()
        now = datetime.now(UTC)
        emit_rows(args, clients, ("ID", "NAME", "CLIENT ID", "SECRET", "ALLOWED ORIGINS", "STATUS", "OLD SECRET",
                                  "EXPIRES (UTC)"),
                  [(c.id, c.name, c.client_id, mask(c.secret_last4), ", ".join(c.allowed_origins) or "(any)",
                    c.shown_status(now), old_listed(c.old_secret_last4, c.old_until(now)), moment(c.expires_at))
                   for c in clients],
                  "No API Clients yet. Create one: turris-api client create --name NAME")
    elif args.action == "show":
        c = store.get_client(args.id)
        emit(args, c, lambda: print("\n".join(client_lines(c))))
    elif args.action == "update":
        if args.name is None and args.description is None and args.origins is None and not expiry_given(args):
            raise UsageError("nothing to update: give --name, --description, --origins or an expiry")
        current = store.get_client(args.id)
        draft = ClientDraft(
            name=current.name if args.name is None else args.name,
            description=current.description if args.description is None else args.description,
            allowed_origins=list(current.allowed_origins) if args.origins is None else args.origins,
            expires=given_expiry(args, current.expires_at),
        )
        c = store.update_client(current.id, draft, current.version if args.if_version is None else args.if_version)
        emit(args, c, lambda: print("Updated.\n" + "\n".join(client_lines(c))))
    elif args.action == "delete":
        require_yes(args, "an API Client")
        c = store.get_client(args.id)
        store.delete_client(c.id)
        emit(args, {"deleted": c.id, "name": c.name},
             lambda: print(f"Deleted API Client '{printable(c.name)}' ({c.client_id})."))
    elif args.action == "set-status":
        local_only(args)
        c = store.set_client_status(args.id, args.status)  # type: ignore[attr-defined] (a LocalStore: local_only)
        emit(args, c, lambda: print(f"'{printable(c.name)}' is now {c.status}."))
    elif args.action == "roll":
        rolled = store.roll_client(args.id, args.keep_old_for)
        emit(args, shapes.created_client_json(rolled), lambda: print_created_client(rolled, rolled=True))
    elif args.action == "end-old":
        c = store.end_old_client(args.id)
        emit(args, c, lambda: print(f"The old secret of '{printable(c.name)}' no longer works."))


def token_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "create":
        created = store.create_token(TokenDraft(args.name, args.ips, given_expiry(args)))
        emit(args, shapes.created_token_json(created), lambda: print_created_token(created))
    elif args.action == "list":
        tokens = store.list_tokens()
        now = datetime.now(UTC)
        emit_rows(args, tokens, ("ID", "NAME", "TOKEN", "ALLOWED IPS", "STATUS", "OLD TOKEN", "EXPIRES (UTC)"),
                  [(t.id, t.name, mask(t.token_last4), ", ".join(t.allowed_ips), t.shown_status(now),
                    old_listed(t.old_token_last4, t.old_until(now)), moment(t.expires_at)) for t in tokens],
                  "No Restricted Access Tokens yet. Create one: turris-api token create --name N --ips IP")
    elif args.action == "show":
        t = store.get_token(args.id)
        emit(args, t, lambda: print("\n".join(token_lines(t))))
    elif args.action == "update":
        if args.name is None and args.ips is None and not expiry_given(args):
            raise UsageError("nothing to update: give --name, --ips or an expiry")
        current = store.get_token(args.id)
        draft = TokenDraft(
            name=current.name if args.name is None else args.name,
            allowed_ips=list(current.allowed_ips) if args.ips is None else args.ips,
            expires=given_expiry(args, current.expires_at),
        )
        t = store.update_token(current.id, draft, current.version if args.if_version is None else args.if_version)
        emit(args, t, lambda: print("Updated.\n" + "\n".join(token_lines(t))))
    elif args.action == "delete":
        require_yes(args, "a Restricted Access Token")
        t = store.get_token(args.id)
        store.delete_token(t.id)
        emit(args, {"deleted": t.id, "name": t.name},
             lambda: print(f"Deleted Restricted Access Token '{printable(t.name)}'."))
    elif args.action == "roll":
        rolled = store.roll_token(args.id, args.keep_old_for)
        emit(args, shapes.created_token_json(rolled), lambda: print_created_token(rolled, rolled=True))
    elif args.action == "end-old":
        t = store.end_old_token(args.id)
        emit(args, t, lambda: print(f"The old value of '{printable(t.name)}' no longer works."))


def expiry_given(args: argparse.Namespace) -> bool:
    return bool(args.expires_in or args.expires_at or args.no_expiry)


def old_listed(last4: str | None, until: datetime | None) -> str:
    return "-" if until is None or last4 is None else f"{mask(last4)} until {moment(until)}"


def require_yes(args: argparse.Namespace, kind: str) -> None:
    if not args.yes:
        raise UsageError(f"deleting {kind} is immediate and permanent: add --yes to confirm")


def print_created_client(created: CreatedClient, rolled: bool = False) -> None:
    c = created.client
    print(f"{'Client Secret Rolled' if rolled else 'API Client Created'}: {printable(c.name)}")
    print(f"  Client ID:     {c.client_id}")
    print(f"  Client Secret: {created.secret}")
    print("Store both in your secrets manager now: the Client Secret will never be shown again.")
    if rolled:
        print(rolled_note("secret", c.old_secret_last4, c.old_until(datetime.now(UTC)), f"client end-old {c.id}"))
    elif not c.allowed_origins:
        print("Note: no Allowed Origins, so browsers on any origin may use this client.")
    if c.expires_at is not None:
        print(f"It expires {moment(c.expires_at)} UTC.")


def print_created_token(created: CreatedToken, rolled: bool = False) -> None:
    t = created.token
    print(f"Restricted Access Token {'Rolled' if rolled else 'Created'}: {printable(t.name)}")
    print(f"  Token: {created.value}")
    print("Store it somewhere safe now: it will never be shown again.")
    if rolled:
        print(rolled_note("token", t.old_token_last4, t.old_until(datetime.now(UTC)), f"token end-old {t.id}"))
    if t.expires_at is not None:
        print(f"It expires {moment(t.expires_at)} UTC.")


def rolled_note(kind: str, last4: str | None, until: datetime | None, end_old: str) -> str:
    if until is None or last4 is None:
        return f"The old {kind} no longer works."
    return (f"The old {kind} {mask(last4)} works until {moment(until)} UTC; "
            f"end it sooner with: turris-api {end_old}")


def member_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "add":
        m = store.add_member(args.email, args.role, args.can_manage_credentials, args.name)
        emit(args, m, lambda: print(f"Added {m.email} as {m.role}"
                                    f"{' with' if m.can_manage_credentials else ' without'} the credential permission."))
    elif args.action == "list":
        found = store.list_members()
        emit_rows(args, found, ("ID", "EMAIL", "NAME", "ROLE", "MANAGES CREDENTIALS"),
                  [(m.id, m.email, m.display_name, m.role, "yes" if m.can_manage_credentials else "no") for m in found],
                  "No members.")
    elif args.action == "set-role":
        m = store.update_member(args.email, args.role, args.can_manage_credentials)
        emit(args, m, lambda: print(f"{m.email} is now {m.role}"
                                    f"{' with' if m.can_manage_credentials else ' without'} the credential permission."))
    elif args.action == "remove":
        if not args.yes:
            raise UsageError("removing a member is immediate and revokes their member access tokens: add --yes to confirm")
        store.remove_member(args.email)
        emit(args, {"removed": args.email}, lambda: print(f"Removed {args.email}; their member access tokens are revoked."))


def member_token_command(args: argparse.Namespace) -> None:
    """member token EMAIL | list [EMAIL] | revoke ID: operator commands on the local database."""
    from turris_api.store import operator

    verb, rest = args.words[0], args.words[1:]
    if verb not in ("list", "revoke") and rest:
        raise UsageError(f"member token takes one EMAIL, not {len(args.words)} words (or: list [EMAIL], revoke ID)")
    if verb == "revoke" and len(rest) != 1 or verb == "list" and len(rest) > 1:
        raise UsageError("member token revoke takes one ID; member token list at most one EMAIL")
    db = open_database(args)
    try:
        if verb == "list":
            tokens = operator.list_member_tokens(db, rest[0] if rest else None)
            emit_rows(args, tokens, ("ID", "MEMBER", "TOKEN", "CREATED (UTC)", "EXPIRES (UTC)", "LAST USED (UTC)"),
                      [(t.id, t.member_email, mask(t.token_last4), moment(t.created_at), moment(t.expires_at),
                        moment(t.last_used_at)) for t in tokens],
                      "No member access tokens. Issue one: turris-api member token EMAIL")
        elif verb == "revoke":
            t = operator.revoke_member_token(db, rest[0])
            emit(args, {"revoked": t.id, "member": t.member_email}, lambda: print(
                f"Revoked member access token {t.id} of {t.member_email} ({mask(t.token_last4)}); "
                "it is refused from its next request on."))
        else:
            created = operator.new_member_token(db, verb, args.expires_in)
            t = created.token
            emit(args, {**shapes.to_json(t), "token": created.value}, lambda: print(
                f"Member access token for {t.member_email}, valid until {moment(t.expires_at)} UTC "
                f"(shown once; give it to turris-api as TURRIS_MEMBER_TOKEN):\n{created.value}"))
    finally:
        db.dispose()


def moment(value, missing: str = "-") -> str:
    return missing if value is None else value.strftime("%Y-%m-%d %H:%M")


def set_up_command(args: argparse.Namespace) -> int:
    """migrate, init, backup and restore: the operator's set-up and safety commands."""
    from pathlib import Path

    from turris_api.store import backup

    if args.command == "restore":
        from turris_api.store.database import default_url

        revision = backup.restore(args.db or default_url(), Path(args.file), force=args.force)
        emit(args, {"restored": args.file, "schema_of_backup": revision},
             lambda: print(f"Restored the store from {args.file} (its schema {revision}, now up to date)."))
        return 0
    db = open_database(args, set_up=False)
    try:
        if args.command == "migrate":
            pending = db.pending_migrations()
            if args.check:
                emit(args, {"pending": pending}, lambda: print(
                    f"Pending migrations: {', '.join(pending)}." if pending else "The schema is up to date."))
                return 1 if pending else 0
            db.migrate()
            emit(args, {"applied": pending}, lambda: print(
                f"Applied migrations {', '.join(pending)}." if pending else "The schema was up to date."))
        elif args.command == "init":
            from turris_api.store.operator import initialize

            if pending := db.pending_migrations():
                raise Unavailable(f"Run turris-api migrate first (pending: {', '.join(pending)}).")
            org_id = initialize(db, args.org, args.admin, args.admin_name)
            emit(args, {"organization_id": org_id, "admin": validation.email(args.admin)}, lambda: print(
                f"Set up {args.org!r} with {validation.email(args.admin)} as its admin."))
        elif args.command == "backup":
            pages = backup.backup(db, Path(args.file), force=args.force)
            emit(args, {"backup": args.file, "pages": pages},
                 lambda: print(f"Backed up the store to {args.file} ({pages} pages)."))
    finally:
        db.dispose()
    return 0


def postman_command(args: argparse.Namespace) -> None:
    """postman export: this service's Postman collection and an environment for it; no store needed."""
    from pathlib import Path

    from turris_api.server import postman
    from turris_api.server.api import openapi_document

    if args.issuer:
        issuer = postman.issuer_url(args.issuer, "--issuer")
    elif args.remote:
        issuer = postman.issuer_url(args.remote, "--remote")
    else:
        from turris_api.server.config import ServeConfig

        issuer = postman.issuer_url(ServeConfig.load({}).effective_issuer, "serve's configured issuer")
    client_id = postman.client_id(args.client_id, "--client-id")
    out = Path(args.out).expanduser()
    if not out.is_dir():
        problem = "is not a folder" if out.exists() else "does not exist"
        raise Invalid("out", f"--out {out} {problem}: give a folder to write the Postman files to.", str(out))
    files = {
        postman.COLLECTION_FILE: postman.collection(openapi_document(issuer), issuer),
        postman.ENVIRONMENT_FILE: postman.environment(issuer, client_id),
    }
    written = []
    for name, body in files.items():
        path = out.resolve() / name
        try:
            path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            raise Unavailable(f"Cannot write {path}: {err.strerror or err}.") from None
        written.append(path)
    collection, environment = written
    env_name = files[postman.ENVIRONMENT_FILE]["name"]

    def human() -> None:
        print(f"Wrote the Postman collection and environment for {issuer}:\n  {collection}\n  {environment}")
        print(f"In Postman: Import, and choose both files. Then pick the environment {env_name!r} (top right), "
              "paste your Client Secret into its client_secret" + ("" if client_id else " and your Client ID into "
              "client_id") + ", and run Token > Get a token: the Protected requests use the JWT it keeps. The "
              "Management requests need a member access token in member_token.")

    emit(args, {"collection": str(collection), "environment": str(environment), "issuer": issuer,
                "client_id": client_id or None}, human)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for stream in (sys.stdout, sys.stderr):  # a name a non-UTF-8 terminal cannot encode must not crash the command
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv or "--format=json" in argv or _follows(argv, "--format", "json")
    try:
        parser = build_parser()
        complete(parser)
        args = parser.parse_args(argv)
        return run(args)
    except StoreError as err:
        report(err, as_json)
        return err.exit_code
    except KeyboardInterrupt:
        report(StoreError("interrupted"), as_json, code="interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as err:  # never a traceback on the terminal
        if os.environ.get("TURRIS_DEBUG"):
            raise
        report(StoreError(f"unexpected error ({type(err).__name__}); set TURRIS_DEBUG=1 for details"), as_json,
               code="unexpected")
        return EXIT_UNEXPECTED


def _follows(argv: Sequence[str], option: str, value: str) -> bool:
    return any(a == option and b == value for a, b in zip(argv, argv[1:], strict=False))


def report(err: StoreError, as_json: bool, code: str | None = None) -> None:
    """An error on stderr: one line, or under --json {"error": {"code", "message", "field"}}."""
    if as_json:
        print(json.dumps({"error": {"code": code or err.code, "message": str(err), "field": getattr(err, "field", None)}}),
              file=sys.stderr)
    else:
        print(f"turris-api: {err}", file=sys.stderr)


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request, if this run is one (argcomplete's protocol), then exit."""
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def run(args: argparse.Namespace) -> int:
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError("the app needs a terminal (stdin and stdout are not one); from a script use a "
                             "subcommand: client, token, member, org, audit, serve, keys, migrate, init, backup, "
                             "restore, postman, completion")
        store = opening_store(args)  # before the app's imports, so the two overlap
        from turris_api.app.app import run_app

        return run_app(store, open_link=args.open, service_url=args.remote)
    if args.command in ("migrate", "init", "backup", "restore"):
        local_only(args)
        return set_up_command(args)
    if args.command == "serve":
        local_only(args)
        from turris_api.server.config import ServeConfig
        from turris_api.server.run import serve

        flags = {"host": args.host, "port": args.port, "trusted_proxies": args.trusted_proxy,
                 "workers": args.workers, "log_format": args.log_format, "log_level": args.log_level}
        if args.workers is not None and not 1 <= args.workers <= 64:
            raise UsageError(f"--workers {args.workers} must be between 1 and 64")
        config = ServeConfig.load({**flags, "db_url": args.db}, args.config)  # refused here if anything is off
        if args.print_config:
            from turris_api.store.database import default_url

            shown = config if config.db_url else config.model_copy(update={"db_url": default_url()})
            print(json.dumps(shown.printable(), indent=2))
            return 0
        args.db = config.db_url or None  # --db, TURRIS_DB_URL or the file's db_url; else the default store
        db = open_database(args, set_up=False)
        if pending := db.pending_migrations():
            if not args.migrate:
                db.dispose()
                raise Unavailable(f"The store needs migrations ({', '.join(pending)}): run turris-api migrate first, "
                                  "or serve --migrate.")
            db.migrate()
        db.dispose()
        config = config.model_copy(update={"db_url": db.url})
        flags = {**{k: v for k, v in flags.items() if v is not None}, "config_file": args.config}
        serve(config, flags)
        return 0
    if args.command == "completion":
        import argcomplete

        print(argcomplete.shellcode(["turris-api"], shell=args.shell))
        return 0
    if args.command == "keys":
        local_only(args)
        from turris_api.server.config import ServeConfig
        from turris_api.server.keys import KeyMaterial, rotate_signing_key
        from turris_api.server.run import at_rest_key

        db = open_database(args)
        config = ServeConfig.load({"db_url": db.url})
        settings = config.service_settings(at_rest_key(config, db.url))
        kid = rotate_signing_key(db, KeyMaterial(settings.at_rest_key, settings.passphrase,
                                                       settings.previous_at_rest_key))
        emit(args, {"kid": kid}, lambda: print(f"New signing key {kid} signs from now on; older keys verify until "
                                               "their last token expires."))
        return 0
    if args.command == "postman":
        postman_command(args)
        return 0
    if args.command == "member" and args.action == "token":
        local_only(args)
        member_token_command(args)
        return 0
    store = open_store(args)
    if args.command == "client":
        client_command(args, store)
    elif args.command == "token":
        token_command(args, store)
    elif args.command == "member":
        member_command(args, store)
    elif args.command == "org" and args.action == "policy":
        local_only(args)
        org = store.set_max_lifetime(args.max_lifetime)  # type: ignore[attr-defined] (a LocalStore: local_only)
        days = org.max_lifetime_days
        emit(args, {"max_lifetime_days": days}, lambda: print(
            "Credentials may now live as long as their creators choose." if days is None
            else f"Credentials of {org.name} now live at most {days} days."))
    elif args.command == "org":
        local_only(args)
        store.set_api_access(args.api_access == "on")  # type: ignore[attr-defined] (a LocalStore: local_only)
        emit(args, {"api_access": args.api_access == "on"}, lambda: print(f"API access is now {args.api_access}."))
    elif args.command == "audit":
        kind, record_id = audit_subject(args, store)
        events = store.audit_events(args.limit, args.before, kind, record_id)
        emit_rows(args, events, ("EVENT", "AT (UTC)", "ACTOR", "ACTION", "TYPE", "ID", "NAME", "DETAIL"),
                  [(e.id, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.credential_type, e.credential_id,
                    e.credential_name, e.detail or "-") for e in events],
                  "No changes recorded yet." if kind is None and args.before is None else "No events match.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
