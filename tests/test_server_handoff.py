"""The hashing threads: work runs off the event loop, each caller gets its own result or error."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading

import pytest

from turris_api.server.handoff import BatchingThreads

REQUEST = contextvars.ContextVar("request", default=None)


def _whoami(number: int) -> tuple[int, str | None, int]:
    return number, REQUEST.get(), threading.get_ident()


async def _ask(threads: BatchingThreads, number: int):
    REQUEST.set(f"request-{number}")
    return await threads.run(_whoami, number)


def test_many_callers_each_get_their_own_result_in_their_own_context_off_the_loop():
    threads = BatchingThreads(2, "test-hashing", batch=4)

    async def main():
        return await asyncio.gather(*(asyncio.create_task(_ask(threads, n)) for n in range(200)))

    answers = asyncio.run(main())
    assert [(n, request) for n, request, _ in answers] == [(n, f"request-{n}") for n in range(200)]
    assert threading.get_ident() not in {thread for _, _, thread in answers}


def test_an_error_reaches_only_its_caller_with_its_type_and_the_threads_keep_working():
    threads = BatchingThreads(1, "test-hashing", batch=4)

    def work(number: int) -> int:
        if number == 3:
            raise KeyError("three")
        return number * 10

    async def main():
        return await asyncio.gather(*(threads.run(work, n) for n in range(6)), return_exceptions=True)

    first = asyncio.run(main())
    assert [type(r) if isinstance(r, Exception) else r for r in first] == [0, 10, 20, KeyError, 40, 50]
    assert asyncio.run(main())[5] == 50  # a second event loop, after the first one closed


def test_the_loop_keeps_running_while_a_job_blocks():
    threads = BatchingThreads(1, "test-hashing", batch=4)
    release = threading.Event()

    async def main():
        job = asyncio.ensure_future(threads.run(release.wait, 10))
        for _ in range(5):  # the loop is free: these sleeps end while the job still waits
            await asyncio.sleep(0.01)
        assert not job.done()
        release.set()
        return await job

    assert asyncio.run(main()) is True


def test_one_job_at_a_time_per_thread_lets_jobs_that_wait_run_side_by_side():
    threads = BatchingThreads(4, "test-network", batch=1)
    together = threading.Barrier(4, timeout=10)  # broken (an error) unless all four wait at once

    async def main():
        return await asyncio.gather(*(threads.run(together.wait) for _ in range(4)))

    assert sorted(asyncio.run(main())) == [0, 1, 2, 3]


def test_a_caller_that_goes_away_leaves_the_others_their_answers():
    threads = BatchingThreads(1, "test-hashing", batch=4)
    release = threading.Event()

    async def main():
        gone = asyncio.ensure_future(threads.run(release.wait, 10))
        stays = asyncio.ensure_future(threads.run(_whoami, 7))
        await asyncio.sleep(0.01)
        gone.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(main())[0] == 7


def test_the_threads_end_once_nobody_can_hand_them_work():
    threads = BatchingThreads(3, "test-ending", batch=4)
    assert asyncio.run(threads.run(_whoami, 1))[0] == 1
    assert sum(t.name.startswith("test-ending-") for t in threading.enumerate()) == 3
    del threads
    gc.collect()
    for thread in [t for t in threading.enumerate() if t.name.startswith("test-ending-")]:
        thread.join(timeout=10)
    assert not any(t.name.startswith("test-ending-") for t in threading.enumerate())
