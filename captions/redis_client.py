"""One asyncio Redis client per event loop (clients cannot cross loops)."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as redis
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, redis.Redis]] = (
    weakref.WeakKeyDictionary()
)


# How long a command waits for a free pooled connection before it fails.
POOL_TIMEOUT_SECONDS = 20


def get_redis(*, binary: bool = False) -> redis.Redis:
    """Return the running loop's client for settings.REDIS_URL (str replies unless binary).

    The pool blocks when every connection is busy: hundreds of listeners joining in the same
    second wait a few milliseconds for a connection instead of failing with "Too many
    connections", which is what redis-py's default pool does past its limit.
    """
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    if binary not in clients:
        pool = redis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            decode_responses=not binary,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT_SECONDS,
        )
        clients[binary] = redis.Redis(connection_pool=pool)
    return clients[binary]


def key(*parts: object) -> str:
    """A Redis key in this project's namespace."""
    prefix = getattr(settings, "CAPTIONS_REDIS_PREFIX", "captions")
    return ":".join([prefix, *(str(part) for part in parts)])
