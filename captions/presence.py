"""Live listener counts per event and language, summed over every server process.

Each process counts its own listeners and writes them to one Redis hash per event
that expires unless refreshed, so a crashed process's listeners vanish on their own. The
event's set of processes names those hashes, so a reader needs no scan of the keyspace: a
SCAN walks every key of every event, which with thousands of talks grows with the square
of their number (docs/scaling.md). Every key of an event shares its hash tag (one shard).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid

from . import metrics
from .redis_client import get_redis, key, tag

logger = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex[:12]
# Counts are a lease: a process that dies stops refreshing them, and they vanish this soon.
TTL_SECONDS = 6
REFRESH_SECONDS = 2
SPEECH_PREFIX = "speech:"  # fields counting listeners who turned listening on

DEBOUNCE_SECONDS = 0.5  # a join burst writes Redis a few times a second, not once per listener

_local: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
_refresher: asyncio.Task | None = None
_pending: dict[tuple[int, int], asyncio.TimerHandle] = {}  # (id of loop, event id)
_last_publish: dict[tuple[int, int], float] = {}


def _fields(language: str, speech: bool) -> list[str]:
    return [language, SPEECH_PREFIX + language] if speech else [language]


async def listener_joined(event_id: int, language: str, *, speech: bool = False) -> None:
    """Called when a listener connects."""
    for field in _fields(language, speech):
        _local[event_id][field] += 1
    _schedule_publish(event_id)
    _ensure_refresher()


async def listener_left(event_id: int, language: str, *, speech: bool = False) -> None:
    """Called when a listener disconnects."""
    for field in _fields(language, speech):
        _local[event_id][field] -= 1
    _local[event_id] = +_local[event_id]  # drop zero counts
    _schedule_publish(event_id)


def _schedule_publish(event_id: int) -> None:
    """Write this process's counts for the event: at once if quiet, else once after the burst."""
    loop = asyncio.get_running_loop()
    pending_key = (id(loop), event_id)
    if pending_key in _pending:
        return
    quiet = loop.time() - _last_publish.get(pending_key, 0.0) >= DEBOUNCE_SECONDS

    def publish_now() -> None:
        _pending.pop(pending_key, None)
        _last_publish[pending_key] = loop.time()
        task = loop.create_task(_publish(event_id))
        task.add_done_callback(_log_failure)

    if quiet:
        publish_now()
    else:
        _pending[pending_key] = loop.call_later(DEBOUNCE_SECONDS, publish_now)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("could not publish listener counts: %s", task.exception())


def counts_key(event_id: int, process: str) -> str:
    return key("listeners", tag(event_id), process)


def processes_key(event_id: int) -> str:
    return key("listener-processes", tag(event_id))


async def _publish(event_id: int) -> None:
    name, processes = counts_key(event_id, PROCESS_ID), processes_key(event_id)
    counts = _local.get(event_id)
    client = get_redis()
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(name)
        if counts:
            pipe.hset(name, mapping=dict(counts))
            pipe.expire(name, TTL_SECONDS)
            pipe.sadd(processes, PROCESS_ID)
            pipe.expire(processes, TTL_SECONDS)
        else:
            pipe.srem(processes, PROCESS_ID)
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
                metrics.count_redis_error("presence")
                logger.warning("could not refresh listener counts", exc_info=True)


async def listener_counts(event_id: int) -> dict[str, int]:
    """Listeners per language across all processes (``speech:<lang>`` for listening ones)."""
    client = get_redis()
    processes = sorted(await client.smembers(processes_key(event_id)))
    if not processes:
        return {}
    async with client.pipeline(transaction=False) as pipe:  # one round trip, one shard
        for process in processes:
            pipe.hgetall(counts_key(event_id, process))
        hashes = await pipe.execute()
    totals: collections.Counter[str] = collections.Counter()
    for counts in hashes:
        for field, value in counts.items():
            totals[field] += int(value)
    # A process that died left its name; its counts expired. (One that comes back in between
    # is named again at its next refresh, within REFRESH_SECONDS.)
    gone = [process for process, counts in zip(processes, hashes, strict=True) if not counts]
    if gone:
        await client.srem(processes_key(event_id), *gone)
    return dict(+totals)


def speech_languages(counts: dict[str, int]) -> frozenset[str]:
    """Languages with at least one listener who wants synthesized speech."""
    return frozenset(
        field.removeprefix(SPEECH_PREFIX) for field in counts if field.startswith(SPEECH_PREFIX)
    )
