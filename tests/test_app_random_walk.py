"""A seeded random walk over the keyboard: the app never fails, and a created secret never outlives its modal.

A walk is CPU-bound on one core, so each seed walks in a process of its own (`python -m
tests.test_app_random_walk DIR EMAIL SEED`), all started at once: the seeds share the
machine's cores, and each test waits for its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, Static

from tests.test_app_common import ADMIN, MANAGER, READER, make_app, make_database, open_api, screen_text, settle, store_as
from turris_api.app.app import TurrisApp
from turris_api.screens.modals import CreatedModal
from turris_api.store.models import ClientDraft, TokenDraft

STEPS = int(os.environ.get("WALK_STEPS", "2000"))
# Keys that arrive together: the app handles a run between two frames, as it does a fast typist's.
BURST = 20
WALKS = [(ADMIN, 1), (READER, 2), (MANAGER, 3)]
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600
WALK_SIZE = tuple(int(n) for n in os.environ.get("WALK_SIZE", "120x36").split("x"))
# What a terminal sends for each key name (the character, where the key has one).
CHARACTERS = {"space": " ", "question_mark": "?", "enter": "\r", "escape": "\x1b", "tab": "\t"}
# Every letter but q (quitting ends a walk; it has its own stories), and the keys that move, confirm and cancel.
LETTERS = [ch for ch in string.ascii_lowercase if ch != "q"]
KEYS = (
    LETTERS + ["G", "question_mark"]
    + ["enter"] * 6 + ["escape"] * 4 + ["tab"] * 4 + ["shift+tab"] * 2
    + ["up", "down", "left", "right"] * 2 + ["ctrl+p", "space", "ctrl+s"]
)


def burst(rng: random.Random) -> list[list[str]]:
    """The next keys, in runs that arrive at once. Now and then what a person does: Add, a look at
    what opened, then a name typed into it and Enter."""
    if rng.random() < 0.1:
        return [["a"], [*rng.choices(LETTERS, k=BURST - 2), "enter"]]
    return [[rng.choice(KEYS) for _ in range(BURST)]]


def seeded(db) -> None:
    admin = store_as(db, ADMIN)
    admin.create_client(ClientDraft("Policy admin sync", "Nightly", "https://app.acme.test"))
    admin.create_client(ClientDraft("Loader", "", ""))
    admin.create_token(TokenDraft("Partner portal", "203.0.113.10"))


def widget_strings(app: TurrisApp) -> list[str]:
    """What every widget on every screen holds as text: typed values and rendered content."""
    found = []
    for screen in app.screen_stack:
        for widget in screen.walk_children():
            if isinstance(widget, Input):
                found.append(widget.value)
            elif isinstance(widget, Static):
                found.append(str(widget.render()))
            value = getattr(widget, "value", None)
            if isinstance(value, str):
                found.append(value)
    return found


def unexpected(app: TurrisApp) -> list[str]:
    return [n.message for n in app._notifications if "unexpected" in (n.title + n.message).lower()]


@pytest.fixture(scope="module")
def walks(tmp_path_factory) -> dict[int, tuple[subprocess.Popen, Path]]:
    """Every seed's walk, started at once, each in a folder of its own (its store, its log)."""
    started = {}
    for email, seed in WALKS:
        folder = tmp_path_factory.mktemp(f"walk-{seed}")
        log = folder / "walk.log"
        with log.open("w") as out:
            started[seed] = (subprocess.Popen([sys.executable, "-m", "tests.test_app_random_walk", str(folder), email,
                                               str(seed)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)
    yield started
    for proc, _ in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("email", "seed"), WALKS)
def test_random_walk_never_fails_and_never_keeps_a_secret(walks, email, seed):
    proc, log = walks[seed]
    try:
        proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, f"walk {email} seed {seed} exited {proc.returncode}:\n{log.read_text()[-6000:]}"


async def walk(db, email: str, seed: int) -> None:
    """One seed's walk as `email`; an AssertionError says where it failed."""

    async def stay(self) -> None:  # the palette's Quit would end the walk; still ask what it would lose
        self.what_quitting_loses()

    TurrisApp.action_quit = stay  # this process walks once, then exits
    opened: list[tuple[CreatedModal, list[str]]] = []  # every Created modal, with its values when it opened
    init = CreatedModal.__init__

    def record(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        opened.append((self, [value for _, value in self._values]))

    CreatedModal.__init__ = record
    seeded(db)
    rng = random.Random(seed)
    pace = random.Random(-seed)  # apart from the keys, so each seed types what it always typed
    app = make_app(store_as(db, email))
    app.animation_level = "none"  # the walk is about what keys do, not the 200 ms slides between them
    async with app.run_test(size=WALK_SIZE) as pilot:
        await open_api(pilot)
        for step in range(0, STEPS, BURST):
            runs = burst(rng)
            keys = [key for run in runs for key in run]
            # A run as the terminal delivers fast typing: every key queued at once, one wait at the end
            # (Pilot.press waits for idle after each key, ~40 ms, which would make a walk take minutes).
            # Every other burst or so the next follows at once, before the app went idle: the races.
            for run in runs:
                if run is not runs[0]:
                    await pilot.pause()
                for key in run:
                    app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))
            await pilot.pause(0 if pace.random() < 0.5 else None)
            if "enter" in keys and rng.random() < 0.3:
                await settle(pilot)  # now and then let the store calls finish, so creates get through
            assert app.is_running, f"seed {seed} keys {step}..{step + BURST} {keys}: the app stopped ({app.return_code})"
            for modal, values in opened:
                if modal in app.screen_stack or not values:
                    continue
                await pilot.pause()
                text, held = screen_text(app), widget_strings(app)
                secret = values[-1]  # the secret or token (a Client ID stays in the table, as it should)
                assert secret not in text, f"seed {seed} keys {step}..: a closed secret is still on screen"
                assert not any(secret in s for s in held), f"seed {seed} keys {step}..: a widget still holds it"
                values.clear()
        await settle(pilot)
        assert app.is_running and not unexpected(app), unexpected(app)
    if email == ADMIN:  # typed letters make a valid client name (rarely a valid IP list)
        assert opened, "the walk never created anything: it tests less than it claims"


def main(folder: str, email: str, seed: int) -> None:
    os.chdir(folder)  # the palette's Screenshot writes where it runs
    db = make_database(f"sqlite:///{Path(folder) / 'store.db'}")
    try:
        asyncio.run(walk(db, email, seed))
    finally:
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
