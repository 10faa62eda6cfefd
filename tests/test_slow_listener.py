"""A listener that stops reading, on a real uvicorn sans-I/O process (issue 8, point 6).

uvicorn's send blocks while a client does not read. A listener whose phone stalls must not
hold up the other listeners of its process, and must be dropped after a bounded time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest

from tests.fake_engine import silence, tone
from tests.servers import server_set
from tests.test_multiprocess import connect, create_event

pytestmark = pytest.mark.timeout(120)

WORDS_PER_UTTERANCE = 100  # long partials fill the stalled socket's buffers quickly
FRAME_GAP = 0.004  # seconds between the presenter's frames: faster than real time
MAX_UTTERANCES = 40  # about 20 s of talk
UTTERANCES_AFTER_DROP = 3
# Seconds from the presenter's closing silence to the reader's final; without any stalled
# listener, a busy 2-CPU machine shows up to 0.5 s. Today's stall was forever.
MAX_LATENCY = 2.0
DROP_WITHIN = 15.0  # seconds of talk: 10 s stall limit, then up to 2 s until counts are sent


@pytest.fixture
def servers(tmp_path):
    servers = server_set(tmp_path)
    yield servers
    servers.stop_all()


def stalled_listener(port: int, path: str) -> socket.socket:
    """A listener that completes the handshake and then never reads again."""
    sock = socket.socket()
    # Set before connecting, to stick: a small window, and a real network's segment size
    # (loopback's 64 KiB segments would let the server's kernel buffer megabytes first).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    response = b""
    while not response.endswith(b"\r\n\r\n"):  # one byte at a time: leave every frame unread
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


class Presenter:
    """The presenter's socket, read in the background for listener counts."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.counts: dict[str, int] = {}
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.connection:
            message = json.loads(raw)
            if message["type"] == "listeners":
                self.counts = message["counts"]
                self.changed.set()

    async def counts_reach(self, expected: dict[str, int], seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while self.counts != expected:
                self.changed.clear()
                await self.changed.wait()

    async def utterance(self, voiced: bytes, pause: bytes) -> None:
        for _ in range(WORDS_PER_UTTERANCE):
            await self.connection.send(voiced)
            await asyncio.sleep(FRAME_GAP)
        await self.connection.send(pause)


async def arrival_of_finals(connection, arrivals: list[float]) -> None:
    """Record when each final reaches a listener that reads everything."""
    loop = asyncio.get_running_loop()
    async for raw in connection:
        message = json.loads(raw)
        if message["type"] == "caption" and message["final"]:
            arrivals.append(loop.time())


async def test_a_listener_that_stops_reading_is_dropped_and_delays_nobody(servers):
    """A listener that never reads is dropped in bounded time; the others get every final."""
    slug, key = create_event(servers)
    presenter_port = servers.start()
    listener_port = servers.start(server="uvicorn-sansio")
    path = f"/ws/events/{slug}/audience/es/"
    stalled = stalled_listener(listener_port, path)
    loop = asyncio.get_running_loop()
    ended: list[float] = []
    arrivals: list[float] = []
    try:
        async with (
            connect(listener_port, path) as reader,
            connect(presenter_port, f"/ws/events/{slug}/presenter/", key) as speaker,
        ):
            presenter = Presenter(speaker)
            await presenter.counts_reach({"es": 2})
            listening = asyncio.create_task(arrival_of_finals(reader, arrivals))
            await speaker.send(json.dumps({"type": "start"}))
            voiced, pause = tone(0.1), silence(0.1)
            started = loop.time()
            dropped_at, stop_after = None, MAX_UTTERANCES
            while len(ended) < stop_after:
                await presenter.utterance(voiced, pause)
                ended.append(loop.time())
                if dropped_at is None and presenter.counts == {"es": 1}:
                    dropped_at = loop.time()
                    stop_after = min(stop_after, len(ended) + UTTERANCES_AFTER_DROP)
            await asyncio.sleep(MAX_LATENCY)
            listening.cancel()
            presenter.reader.cancel()
    finally:
        stalled.close()
    assert len(arrivals) == len(ended), f"{len(arrivals)} of {len(ended)} finals arrived"
    latencies = [arrived - sent for arrived, sent in zip(arrivals, ended, strict=True)]
    assert max(latencies) < MAX_LATENCY, latencies
    assert dropped_at is not None, "the stalled listener was never dropped"
    assert dropped_at - started < DROP_WITHIN
