"""`turris-api`: the app with no subcommand; scriptable credential commands otherwise.

Exit codes: 0 ok, 2 bad input, 3 permission denied, 4 not found, 5 conflict, 1 anything else.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from turris_api.store import validation
from turris_api.store.errors import Invalid, StoreError
from turris_api.store.interface import CredentialStore
from turris_api.store.models import ApiClient, ClientDraft, CreatedClient, CreatedToken, RestrictedToken, TokenDraft

if TYPE_CHECKING:
    from turris_api.app.first_read import FirstRead

EXIT_UNEXPECTED = 1
LOCAL_ONLY = "works on a local database only (drop --remote and use --db)"


class UsageError(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__("arguments", message)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> Parser:
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output")

    parser = Parser(prog="turris-api", description="Turris API Settings: API Clients and Restricted Access Tokens.")
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the store (default: $TURRIS_DB_URL or a local file)")
    parser.add_argument("--as", dest="as_email", metavar="EMAIL", help="act as this member of the local store")
    parser.add_argument("--remote", metavar="URL", help="use the credential service at URL (token: $TURRIS_MEMBER_TOKEN)")
    parser.add_argument("--open", metavar="LINK", help='start on a page, e.g. "?settings-modal=open&path=api"')
    commands = parser.add_subparsers(dest="command", parser_class=Parser)

    client = commands.add_parser("client", help="API Clients").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = client.add_parser("create", parents=[as_json], help="create an API Client; prints the secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--origins", default="", help='comma-separated origins, e.g. "https://app.example.com"')
    client.add_parser("list", parents=[as_json])
    p = client.add_parser("show", parents=[as_json])
    p.add_argument("id", help="internal id or Client ID")
    p = client.add_parser("update", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--origins")
    p.add_argument("--version", type=int, help="apply only if still at this version (else exit 5, conflict)")
    p = client.add_parser("delete", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="confirm: deletion is immediate and permanent")
    p = client.add_parser("set-status", parents=[as_json], help="operator: enable (active) or disable a client")
    p.add_argument("id")
    p.add_argument("status")

    token = commands.add_parser("token", help="Restricted Access Tokens").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = token.add_parser("create", parents=[as_json], help="create a token; prints it once")
    p.add_argument("--name", required=True)
    p.add_argument("--ips", required=True, help='comma-separated IP addresses or CIDR ranges')
    token.add_parser("list", parents=[as_json])
    p = token.add_parser("show", parents=[as_json])
    p.add_argument("id")
    p = token.add_parser("update", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--ips")
    p.add_argument("--version", type=int, help="apply only if still at this version (else exit 5, conflict)")
    p = token.add_parser("delete", parents=[as_json])
    p.add_argument("id")
    p.add_argument("--yes", action="store_true")

    member = commands.add_parser("member", help="members").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = member.add_parser("add", parents=[as_json])
    p.add_argument("email")
    p.add_argument("--role", required=True, help="admin, developer, or another role such as member")
    p.add_argument("--can-manage-credentials", action="store_true")
    p.add_argument("--name", default="", help="display name")
    member.add_parser("list", parents=[as_json])
    p = member.add_parser("token", parents=[as_json], help="issue a member access token for --remote (shown once)")
    p.add_argument("email")

    org = commands.add_parser("org", help="organization").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = org.add_parser("plan", parents=[as_json], help="operator: switch the plan's API access")
    p.add_argument("--api-access", choices=["on", "off"], required=True)

    p = commands.add_parser("audit", parents=[as_json], help="recent credential changes")
    p.add_argument("--limit", type=int, default=50)

    p = commands.add_parser("serve", help="run the credential service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="CIDR",
                   help="a proxy whose X-Forwarded-For is believed (repeatable)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per core suits a busy token endpoint)")

    keys = commands.add_parser("keys", help="JWT signing keys").add_subparsers(dest="action", required=True, parser_class=Parser)
    keys.add_parser("rotate", parents=[as_json], help="a new key signs from now on; the old one verifies until expiry")
    return parser


# --- building the store ------------------------------------------------------


def open_database(args: argparse.Namespace):
    from turris_api.store.database import Database
    from turris_api.store.operator import bootstrap

    db = Database(args.db)
    bootstrap(db)
    return db


def open_store(args: argparse.Namespace) -> CredentialStore:
    return store_opener(args)[0]()


def start_store(args: argparse.Namespace) -> tuple[CredentialStore, FirstRead | None]:
    """The app's store, opened on first use, and (where a second core is free) a child already
    reading the first screen. Call it before importing the app: the child is forked from here."""
    from turris_api.app import first_read
    from turris_api.store.lazy import LazyStore

    opener, description = store_opener(args)
    # The child's gain is importing SQLAlchemy beside Textual; a remote store does not need it.
    reader = None if args.remote else first_read.start(opener, with_listing=args.open is not None)
    return LazyStore(opener, description), reader


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


def plain(value: Any) -> Any:
    """Dataclasses, tuples and datetimes as JSON-ready values."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(plain(data), indent=2))
    else:
        human()


def client_lines(c: ApiClient) -> list[str]:
    return [
        f"id:              {c.id}",
        f"name:            {c.name}",
        f"description:     {c.description or '-'}",
        f"Client ID:       {c.client_id}",
        f"Client Secret:   ••••{c.secret_last4}",
        f"Allowed Origins: {', '.join(c.allowed_origins) or '(any origin)'}",
        f"status:          {c.status}",
        f"version:         {c.version}",
    ]


def token_lines(t: RestrictedToken) -> list[str]:
    return [
        f"id:          {t.id}",
        f"name:        {t.name}",
        f"Token:       ••••{t.token_last4}",
        f"Allowed IPs: {', '.join(t.allowed_ips)}",
        f"version:     {t.version}",
    ]


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    for row in (headers, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip())


# --- commands ----------------------------------------------------------------


def client_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "create":
        created = store.create_client(ClientDraft(args.name, args.description, args.origins))
        emit(args, created_client_json(created), lambda: print_created_client(created))
    elif args.action == "list":
        clients = store.list_clients()
        emit(args, clients, lambda: table(
            [(str(c.id), c.name, c.client_id, f"••••{c.secret_last4}", ", ".join(c.allowed_origins) or "(any)", c.status)
             for c in clients],
            ("ID", "NAME", "CLIENT ID", "SECRET", "ALLOWED ORIGINS", "STATUS"),
        ) if clients else print("No API Clients yet. Create one: turris-api client create --name NAME"))
    elif args.action == "show":
        c = store.get_client(args.id)
        emit(args, c, lambda: print("\n".join(client_lines(c))))
    elif args.action == "update":
        if args.name is None and args.description is None and args.origins is None:
            raise UsageError("nothing to update: give --name, --description or --origins")
        current = store.get_client(args.id)
        draft = ClientDraft(
            name=current.name if args.name is None else args.name,
            description=current.description if args.description is None else args.description,
            allowed_origins=list(current.allowed_origins) if args.origins is None else args.origins,
        )
        c = store.update_client(current.id, draft, current.version if args.version is None else args.version)
        emit(args, c, lambda: print("Updated.\n" + "\n".join(client_lines(c))))
    elif args.action == "delete":
        require_yes(args, "an API Client")
        c = store.get_client(args.id)
        store.delete_client(c.id)
        emit(args, {"deleted": c.id, "name": c.name}, lambda: print(f"Deleted API Client {c.name!r} ({c.client_id})."))
    elif args.action == "set-status":
        local_only(args)
        from turris_api.store.operator import set_client_status

        c = set_client_status(store, args.id, args.status)  # type: ignore[arg-type]
        emit(args, c, lambda: print(f"{c.name!r} is now {c.status}."))


def token_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "create":
        created = store.create_token(TokenDraft(args.name, args.ips))
        emit(args, created_token_json(created), lambda: print_created_token(created))
    elif args.action == "list":
        tokens = store.list_tokens()
        emit(args, tokens, lambda: table(
            [(str(t.id), t.name, f"••••{t.token_last4}", ", ".join(t.allowed_ips)) for t in tokens],
            ("ID", "NAME", "TOKEN", "ALLOWED IPS"),
        ) if tokens else print("No Restricted Access Tokens yet. Create one: turris-api token create --name N --ips IP"))
    elif args.action == "show":
        t = store.get_token(args.id)
        emit(args, t, lambda: print("\n".join(token_lines(t))))
    elif args.action == "update":
        if args.name is None and args.ips is None:
            raise UsageError("nothing to update: give --name or --ips")
        current = store.get_token(args.id)
        draft = TokenDraft(
            name=current.name if args.name is None else args.name,
            allowed_ips=list(current.allowed_ips) if args.ips is None else args.ips,
        )
        t = store.update_token(current.id, draft, current.version if args.version is None else args.version)
        emit(args, t, lambda: print("Updated.\n" + "\n".join(token_lines(t))))
    elif args.action == "delete":
        require_yes(args, "a Restricted Access Token")
        t = store.get_token(args.id)
        store.delete_token(t.id)
        emit(args, {"deleted": t.id, "name": t.name}, lambda: print(f"Deleted Restricted Access Token {t.name!r}."))


def require_yes(args: argparse.Namespace, kind: str) -> None:
    if not args.yes:
        raise UsageError(f"deleting {kind} is immediate and permanent: add --yes to confirm")


def created_client_json(created: CreatedClient) -> dict[str, Any]:
    c = created.client
    return {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "client_id": c.client_id,
        "client_secret": created.secret,
        "secret_last4": c.secret_last4,
        "allowed_origins": list(c.allowed_origins),
        "status": c.status,
        "version": c.version,
    }


def created_token_json(created: CreatedToken) -> dict[str, Any]:
    t = created.token
    return {
        "id": t.id,
        "name": t.name,
        "token": created.value,
        "token_last4": t.token_last4,
        "allowed_ips": list(t.allowed_ips),
        "version": t.version,
    }


def print_created_client(created: CreatedClient) -> None:
    c = created.client
    print(f"API Client Created: {c.name}")
    print(f"  Client ID:     {c.client_id}")
    print(f"  Client Secret: {created.secret}")
    print("Store both in your secrets manager now: the Client Secret will never be shown again.")
    if not c.allowed_origins:
        print("Note: no Allowed Origins, so browsers on any origin may use this client.")


def print_created_token(created: CreatedToken) -> None:
    print(f"Restricted Access Token Created: {created.token.name}")
    print(f"  Token: {created.value}")
    print("Store it somewhere safe now: it will never be shown again.")


def member_command(args: argparse.Namespace, store: CredentialStore) -> None:
    if args.action == "add":
        m = store.add_member(args.email, args.role, args.can_manage_credentials, args.name)
        emit(args, m, lambda: print(f"Added {m.email} as {m.role}"
                                    f"{' with' if m.can_manage_credentials else ' without'} the credential permission."))
    elif args.action == "list":
        found = store.list_members()
        emit(args, found, lambda: table(
            [(m.email, m.display_name, m.role, "yes" if m.can_manage_credentials else "no") for m in found],
            ("EMAIL", "NAME", "ROLE", "MANAGES CREDENTIALS"),
        ))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return run(args)
    except StoreError as err:
        print(f"turris-api: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("turris-api: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # never a traceback on the terminal
        if os.environ.get("TURRIS_DEBUG"):
            raise
        print(f"turris-api: unexpected error ({type(err).__name__}); set TURRIS_DEBUG=1 for details", file=sys.stderr)
        return EXIT_UNEXPECTED


def run(args: argparse.Namespace) -> int:
    if args.command is None:
        from turris_api.app.startup import pause_gc

        pause_gc()  # before the app's imports: the app resumes it once painted
        store, reader = start_store(args)
        from turris_api.app.app import run_app

        return run_app(store, open_link=args.open, first_read=reader)
    if args.command == "serve":
        local_only(args)
        from turris_api.server.run import serve

        db = open_database(args)
        db.dispose()
        if not 1 <= args.workers <= 64:
            raise UsageError(f"--workers {args.workers} must be between 1 and 64")
        serve(db.url, host=args.host, port=args.port, trusted_proxies=args.trusted_proxy, workers=args.workers)
        return 0
    if args.command == "keys":
        local_only(args)
        from turris_api.server.keys import rotate_signing_key

        kid = rotate_signing_key(open_database(args))
        emit(args, {"kid": kid}, lambda: print(f"New signing key {kid} signs from now on; older keys verify until "
                                               "their last token expires."))
        return 0
    if args.command == "member" and args.action == "token":
        local_only(args)
        from turris_api.store.operator import issue_member_token

        db = open_database(args)
        token = issue_member_token(db, args.email)
        emit(args, {"email": validation.email(args.email), "token": token}, lambda: print(
            f"Member access token for {args.email} (shown once; give it to turris-api as TURRIS_MEMBER_TOKEN):\n{token}"
        ))
        return 0
    store = open_store(args)
    if args.command == "client":
        client_command(args, store)
    elif args.command == "token":
        token_command(args, store)
    elif args.command == "member":
        member_command(args, store)
    elif args.command == "org":
        local_only(args)
        from turris_api.store.operator import set_api_access

        set_api_access(store, args.api_access == "on")  # type: ignore[arg-type]
        emit(args, {"api_access": args.api_access == "on"}, lambda: print(f"API access is now {args.api_access}."))
    elif args.command == "audit":
        events = store.audit_events(args.limit)
        emit(args, events, lambda: table(
            [(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.credential_type, str(e.credential_id),
              e.credential_name) for e in events],
            ("AT (UTC)", "ACTOR", "ACTION", "TYPE", "ID", "NAME"),
        ) if events else print("No changes recorded yet."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
