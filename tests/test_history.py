"""Catch-ups and joins share one history query, but never one that began before they subscribed."""

from __future__ import annotations

import asyncio

from captions.history import SharedQuery


async def test_callers_asking_while_a_query_runs_share_it():
    runs = 0

    async def query():
        nonlocal runs
        runs += 1
        this_run = runs
        await asyncio.sleep(0.05)
        return this_run

    shared = SharedQuery()
    now = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(shared.get(("e", "es"), query, now) for _ in range(100)))
    assert results == [1] * 100
    assert runs == 1


async def test_a_caller_who_subscribed_after_a_query_began_gets_a_fresh_one():
    runs = 0

    async def query():
        nonlocal runs
        runs += 1
        this_run = runs
        await asyncio.sleep(0.05)
        return this_run

    shared = SharedQuery()
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(shared.get(("e", "es"), query, loop.time()))
    await asyncio.sleep(0.01)
    late = await shared.get(("e", "es"), query, loop.time())
    assert (await first, late) == (1, 2)


async def test_different_streams_do_not_share_a_query():
    async def query():
        await asyncio.sleep(0.01)
        return object()

    shared = SharedQuery()
    now = asyncio.get_running_loop().time()
    es, fr = await asyncio.gather(
        shared.get(("e", "es"), query, now), shared.get(("e", "fr"), query, now)
    )
    assert es is not fr
