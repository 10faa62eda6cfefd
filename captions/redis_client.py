"""One asyncio Redis client per event loop (clients cannot cross loops)."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as redis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, redis.Redis]] = (
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


def get_redis(*, binary: bool = False) -> redis.Redis:
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
    if binary not in clients:
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


def key(*parts: object) -> str:
    """A Redis key in this project's namespace."""
    prefix = getattr(settings, "CAPTIONS_REDIS_PREFIX", "captions")
    return ":".join([prefix, *(str(part) for part in parts)])
