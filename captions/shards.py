"""Caption subscriptions on a Redis Cluster: sharded pub/sub, one connection per shard.

A cluster delivers a sharded message (SPUBLISH) only to subscribers of the shard that owns the
channel's slot, and nowhere else: classic PUBLISH would copy every caption to every node over
the cluster bus. So a process subscribes (SSUBSCRIBE) to each stream on the primary that owns
it, on one connection per primary, and reads all of them at once: one task per shard hands its
messages to one inbox, which the fan-out hub (captions/fanout.py) reads exactly as it reads a
single server's PubSub. Messages come out as a single server's would ("subscribe", "message").

Any trouble on any shard (a lost or frozen node, a MOVED reply, a slot that migrated away, for
which Redis ends the subscription itself) fails the whole subscription: the hub recovers by
subscribing again, and this module first asks the cluster where every slot lives now.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

logger = logging.getLogger(__name__)

PING_SECONDS = 1.0  # an idle shard is asked for a sign of life this often
SILENCE_SECONDS = 3.0  # no answer for this long: that shard is unreachable
_TYPES = {"ssubscribe": "subscribe", "sunsubscribe": "unsubscribe", "smessage": "message"}


class ShardedSubscription:
    """One process's SSUBSCRIBE connections to a cluster's primaries, read as one PubSub."""

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._shards: dict[str, PubSub] = {}  # node name -> its connection
        self._readers: dict[str, asyncio.Task] = {}
        self._owner: dict[str, str] = {}  # stream -> node name it is subscribed on
        self._leaving: collections.Counter[str] = collections.Counter()  # SUNSUBSCRIBEs sent
        self._inbox: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()
        self.failed = False
        self._closing = False

    async def subscribe(self, *streams: str) -> None:
        """SSUBSCRIBE to ``streams`` on their shards, one command per slot (as Redis asks)."""
        await self._cluster.initialize()  # learns the slot map once per client
        by_slot: dict[int, list[str]] = {}
        for stream in streams:
            by_slot.setdefault(self._cluster.keyslot(stream), []).append(stream)
        for names in by_slot.values():
            node = self._cluster.get_node_from_key(names[0])
            for name in names:
                self._owner[name] = node.name
            pubsub = self._shard(node)
            try:
                await pubsub.ssubscribe(*names)
            except Exception as exc:  # the hub's reader must hear of it, even with no reader here
                self.failed = True
                self._inbox.put_nowait(exc)
                raise
            if node.name not in self._readers:  # once its connection is there to read
                self._readers[node.name] = asyncio.create_task(self._read(node.name, pubsub))

    async def unsubscribe(self, stream: str) -> None:
        """SUNSUBSCRIBE from ``stream`` on the shard it was subscribed on."""
        node_name = self._owner.pop(stream, None)
        if node_name in self._shards:
            self._leaving[stream] += 1
            await self._shards[node_name].sunsubscribe(stream)

    async def get_message(self, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109
        """The next message from any shard, or None after ``timeout`` seconds of quiet."""
        try:
            item = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            raise item
        return item

    async def ping(self) -> None:
        """Nothing to do: each shard's reader pings its own connection when it is idle."""

    async def aclose(self) -> None:
        """Close every shard's connection; after a failure, learn the cluster's slots anew."""
        self._closing = True
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        await _bounded(asyncio.gather(*readers, return_exceptions=True))
        for pubsub in self._shards.values():
            await _bounded(pubsub.aclose())  # a frozen shard must not hold up the others
            await _bounded(pubsub.connection_pool.disconnect())
        self._shards.clear()
        self._readers.clear()
        if self.failed:  # slots may have moved, or a replica taken over from a lost primary
            await _bounded(self._cluster.nodes_manager.initialize())

    def _shard(self, node: ClusterNode) -> PubSub:
        """The subscription connection to ``node``, made on first use.

        It never reconnects by itself (no retry): messages published meanwhile would be lost
        unnoticed, where a failure makes listeners catch up from the database.
        """
        pubsub = self._shards.get(node.name)
        if pubsub is None:
            options = {**node.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
            pool = redis.ConnectionPool(
                connection_class=node.connection_class, max_connections=1, **options
            )
            pubsub = self._shards[node.name] = PubSub(pool)
        return pubsub

    async def _read(self, node_name: str, pubsub: PubSub) -> None:
        """Hand one shard's messages to the inbox until it fails; then hand over the error."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        try:
            # Not "while True": on Python 3.11, a cancellation that meets the read's own timeout
            # can be lost (asyncio.timeout turns it into TimeoutError, which redis-py takes for
            # a quiet second), and the reader would go on forever.
            while not self._closing:
                message = await pubsub.get_message(timeout=PING_SECONDS)
                now = loop.time()
                if message is not None:
                    last_heard = now
                    self._inbox.put_nowait(self._translate(node_name, message))
                elif now - last_heard > SILENCE_SECONDS:
                    raise TimeoutError(f"shard {node_name} did not answer")
                else:
                    await pubsub.ping()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed = True
            self._inbox.put_nowait(exc)

    def _translate(self, node_name: str, message: dict[str, Any]) -> dict[str, Any]:
        """A single server's message type; a subscription that Redis ended itself fails."""
        kind = _TYPES.get(message["type"], message["type"])
        if kind != "unsubscribe":
            return {**message, "type": kind}
        stream = message["channel"]
        if self._leaving[stream] <= 0:  # not asked for: its slot moved to another shard
            raise ConnectionError(f"{stream} is no longer served by {node_name}")
        self._leaving[stream] -= 1
        if self._leaving[stream] <= 0:
            del self._leaving[stream]
        return {**message, "type": kind}


async def _bounded(operation) -> None:
    """Await a clean-up for at most SILENCE_SECONDS; its failure only matters to the log."""
    try:
        await asyncio.wait_for(operation, SILENCE_SECONDS)
    except Exception as exc:
        logger.debug("cluster subscription clean-up failed: %r", exc)
