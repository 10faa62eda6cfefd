"""A burst of listeners joining at once waits for Redis connections instead of failing."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis

from captions.redis_client import get_redis
from tests.conftest import listener

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def test_more_concurrent_commands_than_pooled_connections_wait_and_complete(settings):
    """Past the pool's size a command waits for a connection (redis-py's default pool fails)."""
    settings.REDIS_MAX_CONNECTIONS = 3
    client = get_redis()
    probe = redis.Redis.from_url(settings.REDIS_URL)
    before = probe.info("clients")["connected_clients"]
    # Each BLPOP holds its connection for 0.3 s: 12 of them take turns on 3 connections.
    burst = asyncio.gather(
        *(client.blpop([f"captions-test-nothing-{n}"], timeout=0.3) for n in range(12))
    )
    await asyncio.sleep(0.15)
    during = probe.info("clients")["connected_clients"]
    assert await burst == [None] * 12
    assert during - before <= 3
    probe.close()


async def history_end(comm) -> dict:
    connected, _ = await comm.connect(timeout=20)
    assert connected
    while (message := json.loads(await comm.receive_from(timeout=20)))["type"] != "history_end":
        pass
    return message


async def test_listeners_joining_together_past_the_pool_size_all_get_in(event, settings):
    settings.REDIS_MAX_CONNECTIONS = 2
    comms = [listener(event.slug, language) for language in ("es", "fr") * 20]
    try:
        ends = await asyncio.gather(*(history_end(comm) for comm in comms))
        assert len(ends) == 40
    finally:
        await asyncio.gather(*(comm.disconnect() for comm in comms))
