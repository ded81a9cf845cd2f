"""A real terminal for the real console script: a detached tmux session on a server of its own."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time

TMUX = shutil.which("tmux")
NO_TMUX = "tmux is not installed (apt-get install tmux; .ci/run installs it)"


class Terminal:
    """A detached tmux session on a server of its own, so no user's tmux is touched."""

    def __init__(self, socket: str, env: dict[str, str] | None = None) -> None:
        self.socket = socket
        self.env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})}
        self.env.pop("TMUX", None)

    def tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-L", self.socket, *args], env=self.env, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, command: list[str], width: int, height: int, cwd: str | None = None) -> None:
        args = ["new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height)]
        if cwd is not None:
            args += ["-c", cwd]
        # remain-on-exit keeps the pane after the program ends, so a test can read how it ended.
        self.tmux(*args, shlex.join(command))
        self.tmux("set-option", "-t", "app", "remain-on-exit", "on")

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

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        """Send keys one at a time, as a person types them."""
        for key in keys:
            self.tmux("send-keys", "-t", "app", key)
            time.sleep(pause)

    def exit_status(self) -> int | None:
        """The program's exit status once it has ended, else None."""
        dead, _, status = self.tmux("display-message", "-p", "-t", "app", "#{pane_dead} #{pane_dead_status}").partition(" ")
        return int(status) if dead == "1" and status.strip() else None

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=10)
