"""Live listener counts per event and language, summed over every server process.

Each process counts its own listeners and writes them to one Redis hash per event
that expires unless refreshed, so a crashed process's listeners vanish on their own.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid

from .redis_client import get_redis, key

logger = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex[:12]
TTL_SECONDS = 30
REFRESH_SECONDS = 10
SPEECH_PREFIX = "speech:"  # fields counting listeners who turned listening on

_local: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
_refresher: asyncio.Task | None = None


def _fields(language: str, speech: bool) -> list[str]:
    return [language, SPEECH_PREFIX + language] if speech else [language]


async def listener_joined(event_id: int, language: str, *, speech: bool = False) -> None:
    """Called when a listener connects."""
    for field in _fields(language, speech):
        _local[event_id][field] += 1
    await _publish(event_id)
    _ensure_refresher()


async def listener_left(event_id: int, language: str, *, speech: bool = False) -> None:
    """Called when a listener disconnects."""
    for field in _fields(language, speech):
        _local[event_id][field] -= 1
    _local[event_id] = +_local[event_id]  # drop zero counts
    await _publish(event_id)


async def _publish(event_id: int) -> None:
    name = key("listeners", event_id, PROCESS_ID)
    counts = _local.get(event_id)
    client = get_redis()
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(name)
        if counts:
            pipe.hset(name, mapping=dict(counts))
            pipe.expire(name, TTL_SECONDS)
        await pipe.execute()


def _ensure_refresher() -> None:
    global _refresher
    loop = asyncio.get_running_loop()
    if _refresher is None or _refresher.done() or _refresher.get_loop() is not loop:
        _refresher = loop.create_task(_refresh_forever())


async def _refresh_forever() -> None:
    while any(_local.values()):
        await asyncio.sleep(REFRESH_SECONDS)
        for event_id in list(_local):
            try:
                await _publish(event_id)
            except Exception:  # Redis blips must not kill the refresher
                logger.warning("could not refresh listener counts", exc_info=True)


async def listener_counts(event_id: int) -> dict[str, int]:
    """Listeners per language across all processes (``speech:<lang>`` for listening ones)."""
    client = get_redis()
    totals: collections.Counter[str] = collections.Counter()
    async for name in client.scan_iter(match=key("listeners", event_id, "*"), count=100):
        for field, value in (await client.hgetall(name)).items():
            totals[field] += int(value)
    return dict(+totals)


def speech_languages(counts: dict[str, int]) -> frozenset[str]:
    """Languages with at least one listener who wants synthesized speech."""
    return frozenset(
        field.removeprefix(SPEECH_PREFIX) for field in counts if field.startswith(SPEECH_PREFIX)
    )
