"""Blocking work (argon2 checks) handed from an event loop to a few threads, and back, in batches.

Each hand-off through `loop.run_in_executor` wakes a sleeping thread and then the loop, once per
job: on the token endpoint those wake-ups cost more than everything but the hash itself (bench/,
README "Performance"). Here a thread takes several queued jobs when it wakes, and hands the
results of the lot back with one wake-up of each loop that asked.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import TypeVar

T = TypeVar("T")


class BatchingThreads:
    """`threads` threads; each takes up to `batch` queued jobs at a time (1 for work that waits on
    the network, so that no job waits behind another's round trip)."""

    def __init__(self, threads: int, name: str, *, batch: int) -> None:
        self._jobs: SimpleQueue = SimpleQueue()
        self._threads = threads
        self._batch = batch
        self._name = name
        self._started = False
        self._start_lock = threading.Lock()
        # The threads hold only the queue: once nobody can hand them work, they are told to end.
        weakref.finalize(self, _stop, self._jobs, threads)

    async def run(self, work: Callable[..., T], *args) -> T:
        """`work(*args)` on one of the threads, in the caller's context (its log fields)."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), work, args))
        return await future

    def _start(self) -> None:
        with self._start_lock:
            if not self._started:
                for number in range(self._threads):
                    threading.Thread(target=_serve, args=(self._jobs, self._batch), name=f"{self._name}-{number}",
                                     daemon=True).start()
                self._started = True


STOP = None  # in the queue: one thread ends


def _stop(jobs: SimpleQueue, threads: int) -> None:
    for _ in range(threads):
        jobs.put(STOP)


def _serve(jobs: SimpleQueue, most: int) -> None:
    while (first := jobs.get()) is not STOP:
        batch = [first]
        while len(batch) < most:
            try:
                job = jobs.get_nowait()
            except Empty:
                break
            if job is STOP:  # another thread's, or this one's after the batch
                jobs.put(STOP)
                break
            batch.append(job)
        done: dict[asyncio.AbstractEventLoop, list] = {}
        for loop, future, context, work, args in batch:
            try:
                outcome = (future, context.run(work, *args), None)
            except BaseException as err:  # noqa: BLE001 (raised again in the caller, whatever it is)
                outcome = (future, None, err)
            done.setdefault(loop, []).append(outcome)
        for loop, outcomes in done.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # that loop closed meanwhile: nobody waits for these
                pass


def _settle(outcomes: list) -> None:
    for future, result, error in outcomes:
        if future.cancelled():  # the request went away while its work ran
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
