"""Cheap listener clients for the fan-out benchmark: many WebSockets per process.

A full client library spends tens of microseconds per received message (a task wake-up,
a queue, a decode), so a few thousand library clients saturate the machine before the
server does. These clients are bare asyncio protocols: they perform the opening handshake,
then count server frames straight from the byte stream (server frames are unmasked) and read
the send time only out of the bench's own messages. After the handshake a client sends only
pongs, as a browser does, so servers that ping (Daphne, uvicorn) keep them connected.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from urllib.parse import urlsplit

MARK = b'"bench":'
CONNECT_TIMEOUT = 10.0  # seconds, as a browser would roughly wait
READY = b'"history_end"'  # our server's "you are subscribed" signal; the raw server has none
PING, PONG = 0x9, 0xA  # opcodes: servers ping idle connections and drop those that never answer


class Listener(asyncio.Protocol):
    """One listener connection: handshake, then frame counting."""

    def __init__(self, stats: Stats, handshake_done: asyncio.Future, wait_ready: bool) -> None:
        self.stats = stats
        self.done = handshake_done
        self.wait_ready = wait_ready
        self.buffer = b""
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            ok = head.startswith(b"HTTP/1.1 101")
            if not ok or not self.wait_ready:
                self._finish(ok)
            self.open, self.buffer = True, rest
        self._frames()

    def _frames(self) -> None:
        buffer, position, now = self.buffer, 0, time.time()
        while len(buffer) - position >= 2:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if len(buffer) - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if len(buffer) - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > len(buffer):
                break
            if buffer[position] & 0x0F == PING:
                self._pong(buffer[position + header : end])
            if self.wait_ready and not self.done.done():
                if buffer.find(READY, position + header, end) >= 0:
                    self._finish(True)
            mark = buffer.find(MARK, position + header, end)
            if mark >= 0:
                stop = buffer.find(b"}", mark, end)
                self.stats.record(now - float(buffer[mark + len(MARK) : stop]))
            position = end
        self.buffer = buffer[position:]

    def _pong(self, payload: bytes) -> None:
        # A masked client frame; the zero mask leaves the payload as it is (RFC 6455 5.3).
        if self.transport is not None and len(payload) <= 125:
            self.transport.write(bytes([0x80 | PONG, 0x80 | len(payload)]) + bytes(4) + payload)

    def _finish(self, ok: bool) -> None:
        if not self.done.done():
            self.done.set_result(ok)

    def connection_lost(self, exc) -> None:
        self._finish(False)


class Stats:
    """Received bench messages and their latencies, for one client process."""

    def __init__(self) -> None:
        self.latencies: list[float] = []

    def record(self, latency: float) -> None:
        self.latencies.append(latency)


async def open_listener(url: str, stats: Stats, wait_ready: bool = False):
    """Connect and complete the opening handshake; return the transport, or None on failure.

    With ``wait_ready``, also wait for the server's end-of-history message, which our server
    sends once the listener is subscribed: only then can no live message be missed.
    """
    timeout = CONNECT_TIMEOUT
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_connection(
                lambda: Listener(stats, done, wait_ready), parts.hostname, parts.port
            ),
            timeout,
        )
    except (OSError, TimeoutError):
        return None
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write(
        (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{parts.netloc}\r\n\r\n"
        ).encode()
    )
    try:
        ok = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        ok = False
    if not ok:
        transport.abort()
        return None
    return transport
