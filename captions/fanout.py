"""Process-local caption fan-out: one Redis subscription per process and stream, local delivery.

Listener connections do not join channel-layer groups. Each server process subscribes once
to a Redis pub/sub channel per (event, language variant) that has a local listener, and hands
every published message to its local listeners itself. An update therefore costs Redis one
PUBLISH per language variant whatever the audience size, joining and leaving touch Redis only
for a process's first and last listener of a stream, and a mass disconnect is purely local:
no group membership can go stale.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio.client import PubSub

from .redis_client import get_redis, key

logger = logging.getLogger(__name__)

CAPTION, SPEECH, STATUS = "c", "s", "t"


@dataclass(frozen=True)
class Envelope:
    """A published message: its kind, the utterance it belongs to, and the client's JSON text."""

    kind: str
    seq: int
    final: bool
    text: str

    def encode(self) -> str:
        return f"{self.kind}:{self.seq}:{int(self.final)}:{self.text}"

    @classmethod
    def decode(cls, raw: str) -> Envelope:
        kind, seq, final, text = raw.split(":", 3)
        return cls(kind, int(seq), final == "1", text)


def stream_name(event_id: int, language: str, *, with_source: bool = False) -> str:
    """The Redis pub/sub channel of one event's captions in one language variant."""
    return key("stream", event_id, language + (".src" if with_source else ""))


async def publish(stream: str, envelope: Envelope) -> None:
    """Send one message to every listener of ``stream`` on every server process."""
    await get_redis().publish(stream, envelope.encode())


Deliver = Callable[[Envelope], Awaitable[None]]


class FanoutHub:
    """This process's subscriptions and the local listeners of each stream."""

    def __init__(self) -> None:
        self._listeners: dict[str, dict[object, Deliver]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def listener_count(self, stream: str) -> int:
        return len(self._listeners.get(stream, ()))

    def streams(self) -> list[str]:
        return list(self._listeners)

    async def add(self, stream: str, owner: object, deliver: Deliver) -> None:
        """Deliver ``stream`` to ``owner`` from now on, once Redis confirms the subscription."""
        async with self._lock:
            listeners = self._listeners.setdefault(stream, {})
            listeners[owner] = deliver
            if len(listeners) > 1:
                return
            await self._subscribe(stream)

    async def remove(self, stream: str, owner: object) -> None:
        """Stop delivering to ``owner``; the last local listener ends the subscription."""
        async with self._lock:
            listeners = self._listeners.get(stream)
            if listeners is None or listeners.pop(owner, None) is None or listeners:
                return
            del self._listeners[stream]
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(stream)

    async def _subscribe(self, stream: str) -> None:
        if self._pubsub is None:
            self._pubsub = get_redis().pubsub()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[stream] = confirmed
        await self._pubsub.subscribe(stream)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever())
        await asyncio.wait_for(confirmed, 10)

    async def _read_forever(self) -> None:
        assert self._pubsub is not None
        while self._listeners or self._confirmations:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception:
                logger.exception("caption subscription failed; resubscribing")
                await self._resubscribe()
                continue
            if message is not None:
                await self._dispatch(message)

    async def _dispatch(self, message: dict) -> None:
        stream = message["channel"]
        if message["type"] == "subscribe":
            confirmed = self._confirmations.pop(stream, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if message["type"] != "message":
            return
        envelope = Envelope.decode(message["data"])
        for deliver in list(self._listeners.get(stream, {}).values()):
            try:
                await deliver(envelope)
            except Exception:  # one broken connection must not stop the others
                logger.debug("delivery failed", exc_info=True)

    async def _resubscribe(self) -> None:
        await asyncio.sleep(1)
        if self._pubsub is not None:
            try:  # give its connection back to the pool, which is bounded
                await self._pubsub.aclose()
            except Exception:
                logger.debug("closing the failed subscription failed", exc_info=True)
        self._pubsub = get_redis().pubsub()
        streams = list(self._listeners)
        if streams:
            await self._pubsub.subscribe(*streams)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FanoutHub] = weakref.WeakKeyDictionary()


def get_hub() -> FanoutHub:
    """This event loop's hub (one per server process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = FanoutHub()
    return hub
