"""uvicorn's httptools protocol with two limits it lacks: the size of a request's head, and the
time a client may take to send a whole request; and each answer's head and body sent in one write.

httptools buffers a header of any size (a 50 MB one costs 50 MB), and uvicorn's keep-alive
timeout does not cover a request that is still arriving, so a client trickling bytes holds a
connection forever. Both are checked on the bytes as they arrive, before the app sees anything.
Built on uvicorn's HttpToolsProtocol (uvicorn is pinned in constraints.txt;
tests/test_server_http_limits.py fails loudly if an upgrade changes what this relies on).
"""

from __future__ import annotations

import asyncio

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_LIMIT = 16 * 1024  # bytes of request line and headers
READ_TIMEOUT = 10.0  # seconds from a request's first byte (or the connection's opening) to its last


class _HeadTooLarge(Exception):
    pass


def _plain(status: bytes, message: str) -> bytes:
    body = message.encode("ascii")
    return b"".join([
        b"HTTP/1.1 ", status, b"\r\n",
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: ", str(len(body)).encode("ascii"), b"\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"connection: close\r\n\r\n", body,
    ])


class _CoalescingTransport:
    """The connection's transport, with the writes of one turn of the event loop sent as one.

    uvicorn writes a response's head and its body separately, and uvloop sends each at once: two
    system calls per answer where one does. Held writes go out at the end of the loop's current
    turn, or before the connection closes. Everything else is the real transport's.
    """

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Answers 431 to a head over `config.head_limit` bytes and 408 (then closes) to a request not
    complete within `config.read_timeout` seconds. Both are attributes `server.run` sets on
    uvicorn's Config (which travels to worker processes with them)."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_limit = getattr(config, "head_limit", HEAD_LIMIT)
        self.read_timeout = getattr(config, "read_timeout", READ_TIMEOUT)
        self._reading_head = True
        self._head_bytes = 0
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(_CoalescingTransport(transport, self.loop))
        self._arm()  # a client that connects and says nothing is timed out too

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _HeadTooLarge:
            self._refuse(b"431 Request Header Fields Too Large", "The request's headers are too large.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as err:
            if isinstance(err.__context__, _HeadTooLarge):  # raised in a callback, wrapped by httptools
                self._refuse(b"431 Request Header Fields Too Large", "The request's headers are too large.")
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        # The head is still incomplete after everything that arrived: all of it counts.
        if self._reading_head and self._head_bytes > self.head_limit:
            self._refuse(b"431 Request Header Fields Too Large", "The request's headers are too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        self._arm()

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        self._reading_head = False
        if size > self.head_limit:
            raise _HeadTooLarge
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _arm(self) -> None:
        if self._read_timer is None and self.read_timeout:
            self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:  # nothing on the wire yet
            self.transport.write(_plain(b"408 Request Timeout", "The request took too long to arrive."))
        if cycle is not None and not cycle.response_complete:  # an app waiting for the body stops waiting
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, status: bytes, message: str) -> None:
        self._disarm()
        self.logger.warning("Refused a request from %s: %s", self.client[0] if self.client else "?", message)
        self.transport.write(_plain(status, message))
        self.transport.close()
