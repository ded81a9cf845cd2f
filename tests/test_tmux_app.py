"""The real `turris-api` in a real terminal (tmux): the deep link opens Settings → API."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
TURRIS_API = Path(sys.executable).with_name("turris-api")
API_LINK = "?settings-modal=open&path=api"

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux; .ci/run installs it)")


class Terminal:
    """A detached tmux session on a server of its own, so no user's tmux is touched."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env

    def tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-L", self.socket, *args], env=self.env, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, command: list[str], width: int, height: int) -> None:
        self.tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), shlex.join(command))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown}")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "app", key)
            time.sleep(0.15)

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=10)


@pytest.fixture
def terminal(tmp_path):
    env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.pop("TMUX", None)
    term = Terminal(f"turris-test-{os.getpid()}-{tmp_path.name}", env)
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

    terminal.start([str(TURRIS_API), "--db", url, "--open", API_LINK], 100, 30)
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
