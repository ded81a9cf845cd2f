"""The connection's coalescing transport: one write per turn of the event loop, nothing lost or reordered."""

from __future__ import annotations

import asyncio

from turris_api.server.connection import _CoalescingTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True


def test_writes_of_one_turn_go_out_as_one_in_order():
    async def main():
        real = RecordingTransport()
        transport = _CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        assert real.writes == []  # held until the turn ends
        await asyncio.sleep(0)
        transport.write(b"next")
        await asyncio.sleep(0)
        return real.writes

    assert asyncio.run(main()) == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]


def test_close_sends_what_is_held_first_and_nothing_is_written_after():
    async def main():
        real = RecordingTransport()
        transport = _CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"408")
        transport.close()
        await asyncio.sleep(0)  # the flush scheduled by the write finds nothing left
        return real

    real = asyncio.run(main())
    assert real.writes == [b"408"] and real.closed


def test_a_peer_gone_before_the_flush_gets_nothing_and_the_rest_is_the_real_transport():
    async def main():
        real = RecordingTransport()
        transport = _CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"late")
        real.closed = True  # the client went away meanwhile
        await asyncio.sleep(0)
        transport.pause_reading()
        return real

    real = asyncio.run(main())
    assert real.writes == [] and real.paused
