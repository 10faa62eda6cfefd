"""One asyncio Redis client per event loop (clients cannot cross loops)."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as redis
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, redis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def get_redis(*, binary: bool = False) -> redis.Redis:
    """Return the running loop's client for settings.REDIS_URL (str replies unless binary)."""
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    if binary not in clients:
        clients[binary] = redis.Redis.from_url(settings.REDIS_URL, decode_responses=not binary)
    return clients[binary]


def key(*parts: object) -> str:
    """A Redis key in this project's namespace."""
    prefix = getattr(settings, "CAPTIONS_REDIS_PREFIX", "captions")
    return ":".join([prefix, *(str(part) for part in parts)])
