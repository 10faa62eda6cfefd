"""Catch-ups and joins share one history query, but never one that began before they subscribed."""

from __future__ import annotations

import asyncio

from captions.history import RecentFinals, SharedQuery


class NumberedRuns:
    """A slow query whose result is the number of its run."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> int:
        self.runs += 1
        this_run = self.runs
        await asyncio.sleep(0.05)
        return this_run


async def test_callers_asking_while_a_query_runs_share_it():
    query = NumberedRuns()
    shared = SharedQuery()
    now = asyncio.get_running_loop().time()
    results = [
        r
        for _, r in await asyncio.gather(*(shared.get(("e", "es"), query, now) for _ in range(100)))
    ]
    assert results == [1] * 100
    assert query.runs == 1


async def test_a_caller_who_subscribed_after_a_query_began_gets_a_fresh_one():
    query = NumberedRuns()
    shared = SharedQuery()
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(shared.get(("e", "es"), query, loop.time()))
    await asyncio.sleep(0.01)
    _, late = await shared.get(("e", "es"), query, loop.time())
    assert ((await first)[1], late) == (1, 2)


async def test_different_streams_do_not_share_a_query():
    async def query():
        await asyncio.sleep(0.01)
        return object()

    shared = SharedQuery()
    now = asyncio.get_running_loop().time()
    (_, es), (_, fr) = await asyncio.gather(
        shared.get(("e", "es"), query, now), shared.get(("e", "fr"), query, now)
    )
    assert es is not fr


def test_recent_finals_serve_nothing_until_a_fill_that_began_after_the_last_break():
    async def scenario():
        recent = RecentFinals(limit=3)
        recent.add(5, "five")  # a final delivered before any fill
        assert recent.after(None) is None
        began = asyncio.get_running_loop().time()
        await asyncio.sleep(0.01)
        recent.broken()  # Redis lost while the fill's read ran: finals may have passed unseen
        recent.fill([(3, "three"), (4, "four")], began)
        assert recent.after(None) is None
        recent.fill([(3, "three"), (4, "four")], asyncio.get_running_loop().time())
        assert recent.after(None) == [(3, "three"), (4, "four"), (5, "five")]
        assert recent.after(3) == [(4, "four"), (5, "five")]
        recent.add(6, "six")
        assert recent.after(None) == [(4, "four"), (5, "five"), (6, "six")]  # the newest 3

    asyncio.run(scenario())
