"""The real `turris-api` in a real terminal (tmux): the deep link opens Settings → API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.terminal import NO_TMUX, TMUX, Terminal

TURRIS_API = Path(sys.executable).with_name("turris-api")
API_LINK = "?settings-modal=open&path=api"

pytestmark = pytest.mark.skipif(TMUX is None, reason=NO_TMUX)


@pytest.fixture
def terminal(tmp_path):
    term = Terminal(f"turris-test-{os.getpid()}-{tmp_path.name}")
    yield term
    term.close()


def test_deep_link_opens_the_api_page_in_a_real_terminal(tmp_path, terminal):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    created = subprocess.run(
        [str(TURRIS_API), "--db", url, "client", "create", "--name", "Tmux check", "--origins", "https://app.example.com",
         "--json"],
        env=terminal.env, capture_output=True, text=True, timeout=60, check=True,
    )
    secret = json.loads(created.stdout)["client_secret"]

    terminal.start([str(TURRIS_API), "--db", url, "--open", API_LINK], 120, 40)
    terminal.wait_for("Configure your API")
    shown = terminal.wait_for("Tmux check")  # the listing arrives from a worker, after the first paint

    for text in ("Settings", "DEVELOPER", "API Clients", "Tmux check", f"••••{secret[-4:]}", "View Docs",
                 "Run in Postman", "Add New", "local file /"):
        assert text in shown, f"{text!r} is not on screen:\n{shown}"
    headings = [line.split("▕", 1)[-1].strip(" │") for line in shown.splitlines()]
    assert "API Clients" in headings
    assert "Restricted Access Tokens" not in headings  # that table stays hidden until the first token exists
    assert secret not in shown

    terminal.keys("a")
    terminal.wait_for("Client Name *")  # the Add API Client slide-over, sliding in (200 ms)
    shown = terminal.wait_for("No Allowed Origins")  # its right edge on screen: the slide has ended
    assert "Client Name *" in shown and "Allowed Origins" in shown and "No Allowed Origins" in shown
    terminal.keys("Escape")
    terminal.keys("Escape")  # the slide-over closes, then the Settings modal
    shown = terminal.wait_for("Open Settings")
    assert "Configure your API" not in shown


def start_with_a_client(tmp_path, terminal, width: int, height: int) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    subprocess.run(
        [str(TURRIS_API), "--db", url, "client", "create", "--name", "Tmux check", "--json"],
        env=terminal.env, capture_output=True, text=True, timeout=60, check=True,
    )
    terminal.start([str(TURRIS_API), "--db", url, "--open", API_LINK], width, height)
    terminal.wait_for("Tmux check")


@pytest.mark.parametrize("keys", [
    pytest.param(("a", "Escape", "Enter", "Enter"), id="escape-then-double-enter"),
    pytest.param(("a", "Tab", "Tab", "Tab", "Tab", "a"), id="tab-out-and-add-again"),
])
def test_keys_that_used_to_crash_leave_the_app_running(tmp_path, terminal, keys):
    start_with_a_client(tmp_path, terminal, 100, 30)
    for key in keys:
        terminal.keys(key, pause=0.05)
    shown = terminal.wait_for("Configure your API")
    assert terminal.exit_status() is None, f"the app ended:\n{shown}"
    assert "Traceback" not in shown and "DuplicateIds" not in shown


@pytest.mark.parametrize("size", [
    pytest.param((80, 24), id="80x24"),
    pytest.param((120, 40), id="120x40"),
])
def test_an_api_clients_status_is_on_screen(tmp_path, terminal, size):
    start_with_a_client(tmp_path, terminal, *size)
    shown = terminal.wait_for("● active")  # the whole word, in the row (a capture can catch a frame half-drawn)
    assert "Tmux check" in shown, shown
