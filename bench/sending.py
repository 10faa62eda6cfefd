"""The cost per message of ListenerSender's fast path, beside a direct ``await send(...)``.

Both send through uvicorn's real sans-I/O WebSocket protocol (framing included) to a
transport that discards the bytes, and through a do-nothing ASGI send, so the difference is
the sender's own overhead when the client keeps up.

    python bench/sending.py [--messages 200000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from captions.sending import ListenerSender

TEXT = '{"type":"caption","seq":12,"final":false,"language":"es","text":"' + "palabra " * 12 + '"}'
HANDSHAKE = (
    b"GET /ws/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class NullTransport(asyncio.Transport):
    """Takes every write at once, as a socket that keeps up does."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 8000) if name in {"sockname", "peername"} else default

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def uvicorn_send(finished: asyncio.Event) -> Callable[[dict], Awaitable[None]]:
    """An accepted connection's ASGI send, from uvicorn's sans-I/O protocol."""
    sends: asyncio.Future = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        sends.set_result(send)
        await finished.wait()

    config = Config(app, ws="websockets-sansio", ws_ping_interval=None, log_level="warning")
    protocol = WebSocketsSansIOProtocol(config, ServerState(), {})
    protocol.connection_made(NullTransport())
    protocol.data_received(HANDSHAKE)
    return await sends


async def null_send(message: dict) -> None:
    pass


async def awaiting(send: Callable[[dict], Awaitable[None]], count: int) -> float:
    """Nanoseconds per message awaited directly, as the consumer does today."""
    start = time.perf_counter_ns()
    for _ in range(count):
        await send({"type": "websocket.send", "text": TEXT})
    return (time.perf_counter_ns() - start) / count


async def handing(send: Callable[[dict], Awaitable[None]], count: int) -> float:
    """Nanoseconds per message handed to a ListenerSender."""
    sender = ListenerSender(send, lambda: None)
    start = time.perf_counter_ns()
    for _ in range(count):
        sender.deliver_text(TEXT)
    assert sender.backlog == 0 and not sender.stopped
    return (time.perf_counter_ns() - start) / count


async def main(args: argparse.Namespace) -> None:
    finished = asyncio.Event()
    for name, send in (("uvicorn sans-I/O", await uvicorn_send(finished)), ("no-op", null_send)):
        direct, fast = [], []
        for _ in range(args.rounds):  # interleaved, best of each
            direct.append(await awaiting(send, args.messages))
            fast.append(await handing(send, args.messages))
        print(
            f"{name:16} send: await send {min(direct):5.0f} ns, deliver_text {min(fast):5.0f} ns,"
            f" extra {min(fast) - min(direct):+4.0f} ns per message"
        )
    finished.set()
    await asyncio.sleep(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
