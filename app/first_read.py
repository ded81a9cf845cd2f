"""The first screen's data, read by a forked child while this process imports the UI.

Opening the store (importing SQLAlchemy, the schema check, who we are) and importing Textual are
each about 0.2 s of CPU, and one process runs them one after the other. Where a second core is
free, a child forked before either opens the store exactly as the app would, reads who we are
(and, for a deep link to the API page, its credentials) and hands them over a pipe, while this
process imports the UI; the app paints them and opens its own store in the background. If the
store fails, the child hands over its error, which the app shows as its own read's (with `r` to
retry); if the child fails in any other way, the app reads for itself, as it does without a child.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from turris_api.store.errors import ERRORS_BY_CODE, Invalid, StoreError
from turris_api.store.interface import CredentialStore
from turris_api.store.listing import Listing, fetch_listing
from turris_api.store.models import Me

PIPE_BYTES = 1 << 20  # a listing of 1,000 API Clients is ~230 KB: one write, one read
FirstScreen = tuple[str, Me, Listing | None]  # the store's description, who we are, the API page's listing


@dataclass(frozen=True)
class StoreFailure:
    """A StoreError crossing the pipe (exceptions with their own constructors do not pickle back)."""

    code: str
    message: str
    field: str

    @classmethod
    def of(cls, err: StoreError) -> StoreFailure:
        return cls(err.code, err.message, getattr(err, "field", "store"))

    def error(self) -> StoreError:
        kind = ERRORS_BY_CODE.get(self.code, StoreError)
        return Invalid(self.field, self.message) if kind is Invalid else kind(self.message)


class FirstRead:
    """A running child's answer. `result()` blocks until it is written (call it from a worker);
    `reap()` then waits for the child to be gone, which takes a while for a process of its size."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._fd = fd

    def result(self) -> FirstScreen | StoreError | None:
        """What the child read; the store's own error if it could not (so the app does not wait for
        an unreachable store twice); None if the child failed in any other way."""
        chunks = []
        try:
            while chunk := os.read(self._fd, PIPE_BYTES):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
        try:  # the child writes only a whole answer; anything else is a child that failed
            answer = pickle.loads(b"".join(chunks))  # noqa: S301 (our own child, over a pipe only we hold)
        except Exception:
            return None
        return answer.error() if isinstance(answer, StoreFailure) else answer

    def reap(self) -> None:
        os.waitpid(self._pid, 0)


def available() -> bool:
    """Linux with a second core for this process. Elsewhere the app reads for itself: macOS
    frameworks are not fork-safe, Windows cannot fork, and on one core the child only competes."""
    return sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2


def start(opener: Callable[[], CredentialStore], *, with_listing: bool) -> FirstRead | None:
    """Fork the reader; None where it is not `available()`."""
    if not available():
        return None
    read_fd, write_fd = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # above this system's pipe-max-size: the default size works, in more rounds
            pass
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _answer_in_child(opener, with_listing, write_fd)
    os.close(write_fd)
    return FirstRead(pid, read_fd)


def _answer_in_child(opener: Callable[[], CredentialStore], with_listing: bool, fd: int) -> NoReturn:
    code = 1
    try:
        quiet = os.open(os.devnull, os.O_RDWR)  # the terminal belongs to the app
        for stream in (0, 1, 2):
            os.dup2(quiet, stream)
        try:
            answer: FirstScreen | StoreFailure = _first_screen(opener, with_listing)
        except StoreError as err:
            answer = StoreFailure.of(err)
        payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(payload)
        code = 0
    except BaseException:  # noqa: S110 (any other failure: the app reads for itself and reports it)
        pass
    finally:
        os._exit(code)


def _first_screen(opener: Callable[[], CredentialStore], with_listing: bool) -> FirstScreen:
    store = opener()
    try:
        me = store.me()
        listing = None
        if with_listing and me.organization.api_access:
            try:
                listing = fetch_listing(store, me)
            except StoreError:  # as in the app's own read: the page fetches it again and says what failed
                listing = None
        return store.description, me, listing
    finally:
        store.close()
