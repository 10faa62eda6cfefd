"""Process-local caption fan-out: one Redis subscription per process and stream, local delivery.

Listener connections do not join channel-layer groups. Each server process subscribes once
to a Redis pub/sub channel per (event, language variant) that has a local listener, and hands
every published message to its local listeners itself. An update therefore costs Redis one
PUBLISH per language variant whatever the audience size, joining and leaving touch Redis only
for a process's first and last listener of a stream, and a mass disconnect is purely local:
no group membership can go stale.

When Redis fails (restarts, stops answering), the hub keeps its listeners, tells each of them
the link is down, and reconnects every RETRY_SECONDS for as long as it takes. Once every
stream is subscribed again it tells them the link is back, and each listener catches up on
the finals it missed from the database (captions/consumers.py).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from . import delay_report, metrics
from .history import RecentFinals
from .redis_client import get_redis, key, tag
from .shards import ShardedSubscription

logger = logging.getLogger(__name__)

# A withdrawal is told apart from a final: a listener's resume point does not move past it, in
# case the utterance's real final still comes (a presenter that only looked lost).
CAPTION, SPEECH, STATUS, WITHDRAWAL = "c", "s", "t", "w"
# A moderator's correction of a final (captions/corrections.py): it replaces the final's text
# in place, whatever the listener's resume point, and in this process's history cache. CONSOLE
# messages go to the control room's stream only (captions/control.py).
REVISION, CONSOLE = "r", "k"


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
    return key("stream", tag(event_id), language + (".src" if with_source else ""))


async def publish(stream: str, envelope: Envelope) -> None:
    """Send one message to every listener of ``stream`` on every server process."""
    client = get_redis()
    if isinstance(client, RedisCluster):  # sharded pub/sub: only the stream's shard carries it
        await client.spublish(stream, envelope.encode())
    else:
        await client.publish(stream, envelope.encode())


class Subscriber(Protocol):
    """A local listener of one stream."""

    async def deliver(self, envelope: Envelope) -> None:
        """Called for every message on the stream; must not wait on a slow client."""

    async def link_changed(self, up: bool) -> None:
        """Called when this process loses Redis (False) and once it has it back (True)."""


RETRY_SECONDS = 1.0  # between reconnection attempts, however long Redis stays away
PING_SECONDS = 1.0  # an idle subscription asks Redis for a sign of life this often
SILENCE_SECONDS = 3.0  # no answer for this long: Redis is unreachable (frozen, partitioned)
SUBSCRIBE_SECONDS = 5.0  # how long a new listener waits for its subscription to be confirmed


class FanoutHub:
    """This process's subscriptions and the local listeners of each stream."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Subscriber]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._open_partials: dict[str, int] = {}
        self._recent: dict[str, RecentFinals] = {}
        self._status: dict[str, str] = {}  # the last status message seen on each stream
        self._pubsub: PubSub | ShardedSubscription | None = None
        self._task: asyncio.Task | None = None
        self.up = True  # until a failure says otherwise
        self.up_since = 0.0  # loop time of the last recovery: catch-ups must read after it
        self._failures = 0
        self._lock = asyncio.Lock()  # one subscription change at a time, decided on fresh state

    def listener_count(self, stream: str) -> int:
        return len(self._listeners.get(stream, ()))

    def streams(self) -> list[str]:
        return list(self._listeners)

    def recent(self, stream: str) -> RecentFinals | None:
        """The finals this process has kept of ``stream`` (while it has listeners of it)."""
        return self._recent.get(stream)

    def status(self, stream: str) -> str | None:
        """The last status message of ``stream`` this process knows to be current, if any."""
        return self._status.get(stream)

    def remember_status(self, stream: str, text: str, read_at: float) -> None:
        """Keep a status read from the database at loop time ``read_at`` (after subscribing).

        A status message that came on the stream meanwhile is newer and wins; a read that
        began before the last recovery may miss a change made during the outage.
        """
        if self.up and read_at >= self.up_since and stream in self._listeners:
            self._status.setdefault(stream, text)

    def open_partial(self, stream: str) -> int | None:
        """The utterance last shown as a partial on ``stream`` whose final has not come."""
        return self._open_partials.get(stream)

    async def add(self, stream: str, subscriber: Subscriber) -> bool:
        """Deliver ``stream`` to ``subscriber`` from now on.

        True once Redis has confirmed the subscription; False if the link is down, in which
        case the subscriber hears ``link_changed(True)`` when it is back.
        """
        self._listeners.setdefault(stream, set()).add(subscriber)
        if stream not in self._recent:
            self._recent[stream] = RecentFinals(settings.CAPTION_HISTORY_LIMIT)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        async with self._lock:
            confirmed = self._confirmed.get(stream)
            if confirmed is None:
                confirmed = self._confirmed[stream] = asyncio.get_running_loop().create_future()
                if self._pubsub is not None and self.up:
                    await self._try(self._pubsub.subscribe(stream))
        if not self.up:
            return False
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_SECONDS)
        except Exception:
            return False
        return self.up

    async def remove(self, stream: str, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``; the last local listener ends the subscription."""
        listeners = self._listeners.get(stream)
        if listeners is None:
            return
        listeners.discard(subscriber)
        if listeners:
            return
        del self._listeners[stream]
        self._confirmed.pop(stream, None)
        self._open_partials.pop(stream, None)
        self._recent.pop(stream, None)
        self._status.pop(stream, None)
        await self._unsubscribe(stream)

    async def _unsubscribe(self, stream: str) -> None:
        async with self._lock:
            if stream in self._listeners or self._pubsub is None or not self.up:
                return  # wanted again meanwhile, or the next connection will not have it
            await self._try(self._pubsub.unsubscribe(stream))

    async def deliver_local(self, stream: str, envelope: Envelope) -> None:
        """Hand a message to this process's listeners of ``stream`` only."""
        self._track_partial(stream, envelope)
        if envelope.kind == CAPTION and envelope.final and stream in self._recent:
            self._recent[stream].add(envelope.seq, envelope.text)
        elif envelope.kind == REVISION and stream in self._recent:
            self._recent[stream].revise(envelope.seq, envelope.text)
        elif envelope.kind == STATUS and stream in self._listeners:
            self._status[stream] = envelope.text
        listeners = list(self._listeners.get(stream, ()))
        # Counted, and a final's delay measured and its send time stamped, once per stream.
        envelope = delay_report.delivered(stream, envelope, len(listeners))
        for subscriber in listeners:
            try:
                await subscriber.deliver(envelope)
            except Exception:  # one broken connection must not stop the others
                logger.debug("delivery failed", exc_info=True)

    async def _run(self) -> None:
        """Subscribe, read, and after any failure start again, until no listener is left."""
        while True:
            if not self._listeners:
                async with self._lock:
                    await self._close_pubsub()
                if not self._listeners:  # nobody joined while it closed
                    return
            try:
                await self._connect()
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._link_lost(exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _connect(self) -> None:
        # Under the lock: a fresh PubSub takes its pooled connection on its first command, and
        # two first commands at once (here and in add) would each take one.
        async with self._lock:
            await self._close_pubsub()
            client = get_redis()
            if isinstance(client, RedisCluster):
                self._pubsub = ShardedSubscription(client)
            else:
                self._pubsub = client.pubsub()
            loop = asyncio.get_running_loop()
            for stream in self._listeners:
                if self._confirmed.get(stream) is None or self._confirmed[stream].done():
                    self._confirmed[stream] = loop.create_future()
            if self._listeners:
                await self._pubsub.subscribe(*self._listeners)

    async def _read(self) -> None:
        assert self._pubsub is not None
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while self._listeners:
            message = await self._pubsub.get_message(timeout=PING_SECONDS)
            now = loop.time()
            if message is not None:
                last_heard = now
                await self._dispatch(message)
            elif now - last_heard > SILENCE_SECONDS:
                raise TimeoutError(f"Redis did not answer for {SILENCE_SECONDS:.0f} s")
            else:
                await self._pubsub.ping()
            if not self.up and all(f.done() for f in self._confirmed.values()):
                await self._link_back()

    async def _dispatch(self, message: dict) -> None:
        stream = message["channel"]
        if message["type"] not in ("subscribe", "message"):
            return
        if stream not in self._listeners:  # left while a (re)subscription was under way
            asyncio.create_task(self._unsubscribe(stream))
        elif message["type"] == "subscribe":
            confirmed = self._confirmed.get(stream)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        else:
            await self.deliver_local(stream, Envelope.decode(message["data"]))

    def _track_partial(self, stream: str, envelope: Envelope) -> None:
        if envelope.kind == CAPTION and not envelope.final:
            self._open_partials[stream] = envelope.seq
        elif (
            envelope.kind in (CAPTION, WITHDRAWAL)
            and self._open_partials.get(stream) == envelope.seq
        ):
            del self._open_partials[stream]

    async def _link_lost(self, exc: Exception) -> None:
        self._failures += 1
        metrics.count_redis_error("fanout")
        if self.up or self._failures % 30 == 0:
            logger.warning("caption subscription failed (attempt %d): %r", self._failures, exc)
        for confirmed in self._confirmed.values():
            if not confirmed.done():
                confirmed.set_exception(ConnectionError("Redis link lost"))
                confirmed.exception()  # retrieved: nobody may be waiting on it
        for recent in self._recent.values():
            recent.broken()
        self._status.clear()  # a change may pass unseen until the stream is back
        if self.up:
            self.up = False
            await self._tell_all(False)

    async def _link_back(self) -> None:
        logger.warning("caption subscription restored after %d failed attempts", self._failures)
        self._failures = 0
        metrics.count_fanout_reconnect()
        self.up = True
        self.up_since = asyncio.get_running_loop().time()
        for recent in self._recent.values():
            recent.broken()  # what was filled during the outage may lack its finals
        self._status.clear()
        # Listeners catch up from the database: in a task, so reading goes on meanwhile.
        asyncio.create_task(self._tell_all(True))

    async def _tell_all(self, up: bool) -> None:
        subscribers = {s for listeners in self._listeners.values() for s in listeners}
        for subscriber in subscribers:
            try:
                await subscriber.link_changed(up)
            except Exception:
                logger.debug("could not tell a listener about the link", exc_info=True)

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:  # give its connection back to the pool, which is bounded
                await pubsub.aclose()
            except Exception:
                logger.debug("closing a failed subscription failed", exc_info=True)

    async def _try(self, operation) -> None:
        try:
            await operation
        except Exception:  # the reader meets the same failure and recovers from it
            logger.debug("subscription change failed", exc_info=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FanoutHub] = weakref.WeakKeyDictionary()


def get_hub() -> FanoutHub:
    """This event loop's hub (one per server process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = FanoutHub()
    return hub
