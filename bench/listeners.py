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
import re
import time
from urllib.parse import urlsplit

MARK = b'"bench":'
CONNECT_TIMEOUT = 10.0  # seconds, as a browser would roughly wait
READY = b'"history_end"'  # our server's "you are subscribed" signal; the raw server has none
PING, PONG = 0x9, 0xA  # opcodes: servers ping idle connections and drop those that never answer


def split_frames(buffer: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The complete server frames in ``buffer`` as (opcode, payload start, payload end), and
    where the incomplete rest begins."""
    frames, position = [], 0
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
        frames.append((buffer[position] & 0x0F, position + header, end))
        position = end
    return frames, position


def pong(transport: asyncio.Transport | None, payload: bytes) -> None:
    """Answer a ping with a masked client frame; the zero mask leaves the payload as it is."""
    if transport is not None and len(payload) <= 125:
        transport.write(bytes([0x80 | PONG, 0x80 | len(payload)]) + bytes(4) + payload)


def handshake(url: str) -> bytes:
    """A browser's opening handshake for ``url``, with the page's own origin."""
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{parts.netloc}\r\n\r\n"
    ).encode()


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
        buffer, now = self.buffer, time.time()
        frames, used = split_frames(buffer)
        for opcode, start, end in frames:
            if opcode == PING:
                pong(self.transport, buffer[start:end])
            if self.wait_ready and not self.done.done():
                if buffer.find(READY, start, end) >= 0:
                    self._finish(True)
            mark = buffer.find(MARK, start, end)
            if mark >= 0:
                stop = buffer.find(b"}", mark, end)
                self.stats.record(now - float(buffer[mark + len(MARK) : stop]))
        self.buffer = buffer[used:]

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
    transport.write(handshake(url))
    try:
        ok = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        ok = False
    if not ok:
        transport.abort()
        return None
    return transport


CAPTION = b'{"type":"caption"'
HISTORY_END = b'{"type":"history_end"'
HISTORY = b'{"type":"history",'  # the whole history in one message (history=frame)
SEQ = re.compile(rb'"seq":(\d+)')
LAST_SEQ = re.compile(rb'"last_seq":(\d+)')
CLOSE = 0x8


class Joiner(asyncio.Protocol):
    """A listener that checks what it is sent, as a phone joining a talk would see it.

    It keeps the utterance numbers of the history it replays up to ``history_end``, then of
    every live caption, and the times from opening its socket to ``history_end`` and to the
    first live caption. ``settled`` resolves once it has both (True) or has failed (False).
    """

    def __init__(self, language: str) -> None:
        self.language = b'"language":"%s"' % language.encode()
        self.opened = time.monotonic()
        self.settled = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded_s: float | None = None  # socket opened -> 101 Switching Protocols
        self.failure: str | None = None  # why it was not admitted
        self.history: list[int] = []
        self.last_seq: int | None = None
        self.history_end_s: float | None = None
        self.first_live_s: float | None = None
        self.live: list[int] = []
        self.sent: list[float] = []  # wall-clock send times of live bench captions...
        self.latencies: list[float] = []  # ...and their delivery latencies
        self.wrong_language = 0
        self.closed = False

    @property
    def admitted(self) -> bool:
        return self.history_end_s is not None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.upgraded_s is None:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                return self.fail("http_" + head[9:12].decode(errors="replace"))
            self.upgraded_s, self.buffer = time.monotonic() - self.opened, rest
        buffer = self.buffer
        frames, used = split_frames(buffer)
        for opcode, start, end in frames:
            if opcode == PING:
                pong(self.transport, buffer[start:end])
            elif opcode == CLOSE:
                self.fail(f"close_{int.from_bytes(buffer[start : start + 2], 'big')}")
            elif self.history_end_s is None:
                self._before_end(buffer, start, end)
            elif buffer.startswith(CAPTION, start):
                self._live(buffer, start, end)
        self.buffer = buffer[used:]

    def _before_end(self, buffer: bytes, start: int, end: int) -> None:
        if buffer.startswith(CAPTION, start):
            self.history.append(int(SEQ.search(buffer, start, end)[1]))
            self.wrong_language += buffer.find(self.language, start, end) < 0
        elif buffer.startswith(HISTORY, start):
            seqs = [int(seq) for seq in SEQ.findall(buffer, start, end)]
            self.history += seqs
            self.wrong_language += len(seqs) - buffer.count(self.language, start, end)
            self._end_history(buffer, start, end)
        elif buffer.startswith(HISTORY_END, start):
            self._end_history(buffer, start, end)

    def _end_history(self, buffer: bytes, start: int, end: int) -> None:
        self.history_end_s = time.monotonic() - self.opened
        found = LAST_SEQ.search(buffer, start, end)
        self.last_seq = int(found[1]) if found else None

    def _live(self, buffer: bytes, start: int, end: int) -> None:
        now = time.time()
        self.live.append(int(SEQ.search(buffer, start, end)[1]))
        self.wrong_language += buffer.find(self.language, start, end) < 0
        mark = buffer.find(MARK, start, end)
        if mark >= 0:
            sent = float(buffer[mark + len(MARK) : buffer.find(b"}", mark, end)])
            self.sent.append(sent)
            self.latencies.append(now - sent)
        if self.first_live_s is None:
            self.first_live_s = time.monotonic() - self.opened
            if not self.settled.done():
                self.settled.set_result(True)

    def fail(self, reason: str) -> None:
        """Not admitted (refused, closed, timed out), or dropped later: stop listening."""
        if not self.admitted and self.failure is None:
            self.failure = reason
        if not self.settled.done():
            self.settled.set_result(False)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.admitted and self.failure is None:
            self.failure = "reset"
        if not self.settled.done():
            self.settled.set_result(False)


async def join(url: str, wait_s: float) -> Joiner:
    """Open one listener and wait until it has its history and first live caption, or failed.

    ``wait_s`` bounds the wait for ``history_end`` from the moment the socket is opened;
    the first live caption may then take up to 5 s more.
    """
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    joiner = Joiner(parts.path.rstrip("/").rsplit("/", 1)[-1])
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: joiner, parts.hostname, parts.port), wait_s
        )
    except (OSError, TimeoutError) as exc:
        joiner.fail(f"connect_{type(exc).__name__}")
        return joiner
    joiner.transport.write(handshake(url))
    remaining = wait_s - (time.monotonic() - joiner.opened)
    try:
        await asyncio.wait_for(asyncio.shield(joiner.settled), max(remaining, 0.01))
    except TimeoutError:
        if not joiner.admitted:
            joiner.fail("timeout")
            return joiner
    if not joiner.settled.done():
        try:
            await asyncio.wait_for(asyncio.shield(joiner.settled), 5.0)
        except TimeoutError:
            pass  # admitted, but no live caption yet: counted by the caller
    return joiner
