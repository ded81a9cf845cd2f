"""Real `turris-api serve` processes on loopback, for multi-instance and shutdown tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

TURRIS_API = str(Path(sys.executable).with_name("turris-api"))
START_TIMEOUT_S = 30.0
ISSUER = "https://api.turris.test"  # what a balancer in front of several instances would publish
# The at-rest key instances on one PostgreSQL database share (SQLite stores get a key file instead).
SECRET_KEY = "dGVzdC1vbmx5LWF0LXJlc3Qta2V5LTMyLWJ5dGVzISE="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def secret_key_for(db_url: str) -> dict[str, str]:
    return {} if db_url.startswith("sqlite") else {"TURRIS_SECRET_KEY": SECRET_KEY}


class ServiceProcess:
    """One instance: `turris-api --db URL serve --port P`, its output kept in a file for inspection."""

    def __init__(self, db_url: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [TURRIS_API, "--db", db_url, "serve", "--host", "127.0.0.1", "--port", str(self.port), *extra],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TURRIS_ISSUER": ISSUER, **secret_key_for(db_url), **(env or {})},
        )

    def wait_ready(self) -> ServiceProcess:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turris-api serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/.well-known/jwks.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turris-api serve did not answer within {START_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def services(db_url: str, count: int = 1, *extra: str) -> Iterator[list[ServiceProcess]]:
    with ExitStack() as stack:
        running = []
        for _ in range(count):  # started together, as a deployment rolls out
            process = ServiceProcess(db_url, *extra)
            stack.callback(process.stop)
            running.append(process)
        for process in running:
            process.wait_ready()
        yield running
