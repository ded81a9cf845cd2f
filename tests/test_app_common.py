"""Shared set-up for the app tests (no tests here): a known organization, its members, helpers."""

from __future__ import annotations

import io
import types
from collections import deque
from collections.abc import Callable, Iterator

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from turris_api.app.app import TurrisApp
from turris_api.app.config import Links
from turris_api.screens.api_page import ApiPage
from turris_api.screens.audit_page import AuditPage
from turris_api.screens.modals import ClientCreatedModal
from turris_api.screens.settings import SettingsModal
from turris_api.store.database import Database
from turris_api.store.local import LocalStore
from turris_api.store.operator import create_organization

API_LINK = "?settings-modal=open&path=api"
AUDIT_LINK = "?settings-modal=open&path=audit"
ORG = "Acme Insurance"
ADMIN = "ada@acme.test"
DEVELOPER = "dev@acme.test"
MANAGER = "max@acme.test"  # may manage credentials, but neither Admin nor Developer
READER = "rita@acme.test"  # no permission to manage credentials
NO_PLAN = "nina@noplan.test"  # an organization whose plan lacks API access
LINKS = Links(docs="https://docs.turrisfi.com", postman="https://postman.example/turris")


def make_database(url: str) -> Database:
    db = Database(url)
    create_organization(db, ORG, ADMIN, admin_name="Ada")
    create_organization(db, "No Plan Co", NO_PLAN, api_access=False, admin_name="Nina")
    admin = LocalStore(db, ADMIN)
    admin.add_member(DEVELOPER, "developer", True, "Dev")
    admin.add_member(MANAGER, "member", True, "Max")
    admin.add_member(READER, "member", False, "Rita")
    return db


def app_database(url: str) -> Iterator[Database]:
    """For a fixture (`yield from app_database(url)`): `make_database`'s store, disposed after the test."""
    database = make_database(url)
    yield database
    database.dispose()


def store_as(db: Database, email: str) -> LocalStore:
    store = LocalStore(db, email)
    store.description = "local file store.db"  # the real one names a tmp path; snapshots need a fixed one
    return store


def make_app(store, open_link: str | None = API_LINK, opened: list[str] | None = None,
             service_url: str | None = None) -> TurrisApp:
    def opener(url: str) -> bool:
        if opened is not None:
            opened.append(url)
        return False  # as over SSH: nothing could be opened

    return TurrisApp(store, open_link=open_link, links=LINKS, opener=opener, clipboard=None, service_url=service_url)


async def settle(pilot: Pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def until(pilot: Pilot, predicate: Callable[[], object], what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if predicate():
            return
        await settle(pilot)
    raise AssertionError(f"timed out waiting for {what}")


def api_page_of(app: TurrisApp) -> ApiPage | None:
    for screen in app.screen_stack:
        if isinstance(screen, SettingsModal):
            return screen.api_page
    return None


async def open_api(pilot: Pilot) -> ApiPage:
    """Wait until the deep link has opened Settings → API and its first listing arrived."""
    app = pilot.app
    await until(pilot, lambda: (page := api_page_of(app)) is not None and page.loaded and isinstance(app.screen, SettingsModal),
                "the API page")
    await pilot.pause()
    return api_page_of(app)


async def open_audit(pilot: Pilot) -> AuditPage:
    """Wait until Settings shows the Audit log page (by the deep link, the nav or a panel) and its first page arrived."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, SettingsModal) and (page := app.screen.audit_page) is not None
                and page.loaded and not page.fetching and app.screen.current_page == "audit", "the audit log")
    await settle(pilot)
    return app.screen.audit_page


async def type_text(pilot: Pilot, selector: str, text: str, replace: bool = True) -> None:
    """Focus the input and type, key by key, as a person would."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()
    if replace:
        await pilot.press("end", *["backspace"] * len(field.value))
    await pilot.press(*[("space" if ch == " " else ch) for ch in text])


async def add_client(pilot: Pilot, name: str) -> ClientCreatedModal:
    """On the API page: Add API Client, a name typed, Enter; the Created modal it opens."""
    await pilot.press("a")
    await type_text(pilot, "#name", name)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, ClientCreatedModal), "the created modal")
    return pilot.app.screen


def screen_text(app: TurrisApp) -> str:
    """What the terminal shows now, as plain text (including the screens under a modal)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


_ATOMS = (int, float, complex, bool, type(None), type, types.ModuleType, types.BuiltinFunctionType, types.CodeType)


def reachable_strings(root: object) -> Iterator[str]:
    """Every str (and bytes) reachable from `root` through attributes, slots, containers and closures."""
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _ATOMS):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield obj
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            yield bytes(obj).decode("latin-1")
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            stack.extend(obj)
        if isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in (obj.__closure__ or ()) if _filled(cell))
            stack.extend(obj.__defaults__ or ())
            continue
        if isinstance(obj, types.MethodType):
            stack.append(obj.__self__)
            continue
        try:
            attributes = object.__getattribute__(obj, "__dict__")
        except (AttributeError, TypeError):
            attributes = None
        if isinstance(attributes, dict):
            stack.extend(attributes.values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()) if isinstance(getattr(cls, "__slots__", ()), (tuple, list)) else ():
                try:
                    stack.append(object.__getattribute__(obj, slot))
                except (AttributeError, TypeError):
                    pass


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
