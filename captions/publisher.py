"""Publishes one live session's messages to listeners, in order, without ever blocking audio.

The relay hands messages over with ``put`` and goes on: Redis being slow, restarting or
unreachable never holds up the engine. One task sends them in batches. While Redis is down,
partials are dropped (a newer one will follow) and finals and status changes are kept, then
sent in order once Redis answers again; listeners skip what they already have, by number.

Every batch is fenced by the presenter lease: a Lua script publishes only while the lease
still carries this session's token, so a presenter that has been replaced (and does not know
it yet) can never put a second stream of captions in front of listeners. Withdrawals pass the
fence: a replaced session's open partial must still be taken off every phone.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from . import lease, metrics
from .fanout import CAPTION, WITHDRAWAL, Envelope
from .redis_client import get_redis, is_cluster

logger = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
MAX_BATCH = 200  # messages per round trip
MAX_KEPT = 5_000  # messages kept through an outage; listeners also catch up from the database

# ARGV: token, lease ms, the prefix of messages that pass the fence, then (channel, message)
# pairs. Like lease.renew, a lease that Redis lost (a restart) is taken again if it is free.
_FENCED_PUBLISH = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
end
for i = 4, #ARGV, 2 do
  if holder == ARGV[1] or string.sub(ARGV[i + 1], 1, #ARGV[3]) == ARGV[3] then
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  end
end
return holder == ARGV[1] and 1 or 0
"""
# On a Redis Cluster, captions go out by sharded pub/sub (Redis 7), which a script may use for
# channels in its own slot: every stream of the event carries the lease key's hash tag.
_FENCED_SPUBLISH = _FENCED_PUBLISH.replace("'PUBLISH'", "'SPUBLISH'")
PASSES_FENCE = WITHDRAWAL + ":"  # Envelope.encode puts the kind first

LinkChanged = Callable[[bool], Awaitable[None]]


class Publisher:
    """The ordered outbox of one presenter connection's captions and status changes."""

    def __init__(self, event_id: int, token: str, on_link: LinkChanged) -> None:
        self.event_id = event_id
        self.token = token
        self.on_link = on_link
        self.link_up = True
        self.fenced_out = False  # another connection holds the lease: nothing more is sent
        self._queue: collections.deque[tuple[str, Envelope]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._run())

    def put(self, stream: str, envelope: Envelope) -> None:
        """Queue a message for every listener of ``stream``; returns at once."""
        if self.fenced_out and envelope.kind != WITHDRAWAL:
            return
        if not self.link_up and _is_partial(envelope):
            metrics.count_dropped_partial("publisher")
            return
        self._queue.append((stream, envelope))
        while len(self._queue) > MAX_KEPT:
            self._queue.popleft()
        self._idle.clear()
        self._wakeup.set()

    async def drain(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for everything queued to be sent; True if it was."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._send_batch()
            self._idle.set()

    async def _send_batch(self) -> None:
        batch = [self._queue[i] for i in range(min(MAX_BATCH, len(self._queue)))]
        args = [part for stream, envelope in batch for part in (stream, envelope.encode())]
        try:
            sent = await get_redis().eval(
                _FENCED_SPUBLISH if is_cluster() else _FENCED_PUBLISH,
                1,
                lease.lease_key(self.event_id),
                self.token,
                int(lease.LEASE_SECONDS * 1000),
                PASSES_FENCE,
                *args,
            )
        except Exception as exc:
            metrics.count_redis_error("publisher")
            await self._link_lost(exc)
            await asyncio.sleep(RETRY_SECONDS)
            return
        await self._link_back()
        for _ in batch:
            self._queue.popleft()
        if not sent and not self.fenced_out:
            self.fenced_out = True  # the owner's lease renewal finds out too, and closes
            logger.warning(
                "captions of event %s stop: another presenter connection holds its lease",
                self.event_id,
            )
            self._queue = collections.deque(i for i in self._queue if i[1].kind == WITHDRAWAL)

    async def _link_lost(self, exc: Exception) -> None:
        if not self.link_up:
            return
        self.link_up = False
        logger.warning("captions of event %s cannot reach listeners: %s", self.event_id, exc)
        # Partials are stale by the time the link is back; finals and status are kept.
        kept = collections.deque(item for item in self._queue if not _is_partial(item[1]))
        metrics.count_dropped_partial("publisher", len(self._queue) - len(kept))
        self._queue = kept
        await self.on_link(False)

    async def _link_back(self) -> None:
        if self.link_up:
            return
        self.link_up = True
        logger.warning("captions of event %s reach listeners again", self.event_id)
        await self.on_link(True)


def _is_partial(envelope: Envelope) -> bool:
    return envelope.kind == CAPTION and not envelope.final
