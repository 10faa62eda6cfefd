"""One asyncio Redis client per event loop (clients cannot cross loops): a single server's, or
a Redis Cluster's when REDIS_URL names one (``redis+cluster://host:port,host:port``).

On a cluster, every key and pub/sub channel of one event carries the event's hash tag
(``captions:stream:{42}:es``), so that they all live on one shard: the fenced publish
(captions/publisher.py) reads the lease and publishes the event's captions in one script, which
a cluster runs only where all of them live. On a single server, names have no braces.
"""

from __future__ import annotations

import asyncio
import weakref
from urllib.parse import urlsplit

import redis.asyncio as redis
from django.conf import settings
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

Client = redis.Redis | RedisCluster
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, Client]] = (
    weakref.WeakKeyDictionary()
)


# How long a command waits for a free pooled connection before it fails.
POOL_TIMEOUT_SECONDS = 20
# A command on a dead connection (Redis restarted, or unreachable) fails within about
# (1 + RETRIES) x SOCKET_TIMEOUT_SECONDS; callers that must not wait that long (the audio path)
# never await Redis directly (see captions/publisher.py).
SOCKET_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
RETRIES = 2


def get_redis(*, binary: bool = False) -> Client:
    """Return the running loop's client for settings.REDIS_URL (str replies unless binary).

    The pool blocks when every connection is busy: hundreds of listeners joining in the same
    second wait a few milliseconds for a connection instead of failing with "Too many
    connections", which is what redis-py's default pool does past its limit.

    After Redis restarts, every pooled connection is dead. redis-py's default is not to retry,
    so each of them would fail one command before being replaced; with a retry the command
    reconnects and goes through. Timeouts bound how long an unreachable Redis can hold a caller.
    """
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    if binary in clients:
        return clients[binary]
    if is_cluster():
        clients[binary] = _cluster_client(binary)
    else:
        pool = redis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            decode_responses=not binary,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
            health_check_interval=15,
        )
        clients[binary] = redis.Redis(connection_pool=pool)
    return clients[binary]


def is_cluster() -> bool:
    """Whether REDIS_URL names a Redis Cluster."""
    return bool(getattr(settings, "REDIS_CLUSTER_NODES", None))


def _cluster_client(binary: bool) -> RedisCluster:
    """A cluster client that knows every seed node, with the single server's timeouts.

    Unlike the single server's blocking pool, redis-py's cluster pool refuses a command past
    REDIS_MAX_CONNECTIONS to one node (MaxConnectionsError): operators of large events on a
    cluster raise the limit rather than have joiners queue.
    """
    first, *others = settings.REDIS_CLUSTER_NODES
    seeds = [urlsplit(url) for url in others]
    return RedisCluster.from_url(
        first,
        startup_nodes=[ClusterNode(seed.hostname, seed.port) for seed in seeds],
        decode_responses=not binary,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
        health_check_interval=15,
    )


def key(*parts: object) -> str:
    """A Redis key in this project's namespace."""
    prefix = getattr(settings, "CAPTIONS_REDIS_PREFIX", "captions")
    return ":".join([prefix, *(str(part) for part in parts)])


def tag(part: object) -> str:
    """``part`` as a Redis Cluster hash tag, ``{part}``: keys that name it share one slot.

    Unchanged on a single server, whose key names stay what they always were.
    """
    return f"{{{part}}}" if is_cluster() else str(part)


async def mget(names: list[str]) -> list[str | None]:
    """MGET of keys that may live on different shards of a cluster (one MGET per slot)."""
    client = get_redis()
    if isinstance(client, RedisCluster):
        return await client.mget_nonatomic(names)
    return await client.mget(names)
