"""Servers the benchmarks start as child processes on 127.0.0.1: a free port, started, waited for, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """True once something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def answers(url: str) -> bool:
    """True once anything answers at `url` (any status: the server is up)."""
    try:
        httpx.get(url, timeout=1.0)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def serving(argv: list[str], log_path: Path, ready: Callable[[], bool], *, env: dict | None = None,
            timeout: float = START_TIMEOUT_S) -> Iterator[subprocess.Popen]:
    """Run `argv` until the block ends; the block starts once `ready()` is true.

    Output goes to a file, not a pipe (a full pipe would stall the server). The child leads its own
    process group, so workers it forked are stopped with it.
    """
    log = log_path.open("wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{Path(argv[0]).name} exited {proc.returncode}: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{Path(argv[0]).name} did not start in {timeout:.0f} s: "
                                   f"{log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:  # any worker that outlived its parent
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        log.close()
