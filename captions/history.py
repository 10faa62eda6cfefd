"""Recent finals for listeners who join or catch up, one database query for many of them.

When Redis comes back after an outage, every listener of a process catches up at once; in a
join storm hundreds arrive in the same second. They all want the same rows, so a query in
flight is shared by every listener who asks while it runs, provided it started after that
listener's subscription was confirmed (else a final published in between could be missed).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable

from . import storage
from .models import Caption


class SharedQuery:
    """Runs a query once for the callers who ask while it is in flight."""

    def __init__(self) -> None:
        self._flights: dict[tuple, tuple[float, asyncio.Future]] = {}

    async def get(
        self, key: tuple, query: Callable[[], Awaitable[object]], not_before: float
    ) -> object:
        """The query's result, from a run that started no earlier than ``not_before``."""
        flight = self._flights.get(key)
        if flight is None or flight[0] < not_before or flight[1].done():
            future = asyncio.ensure_future(query())
            flight = self._flights[key] = (asyncio.get_running_loop().time(), future)
            future.add_done_callback(lambda done: self._land(key, done))
        return await asyncio.shield(flight[1])

    def _land(self, key: tuple, done: asyncio.Future) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight[1] is done:
            del self._flights[key]


_queries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedQuery] = (
    weakref.WeakKeyDictionary()
)


async def recent_finals(
    event_id: int, language: str, after: int | None, not_before: float
) -> list[Caption]:
    """The newest finals in ``language`` after ``after``, oldest first (history's limit applies)."""
    loop = asyncio.get_running_loop()
    shared = _queries.setdefault(loop, SharedQuery())
    rows = await shared.get(
        (event_id, language), lambda: storage.recent_finals(event_id, language, None), not_before
    )
    return [row for row in rows if after is None or row.seq > after]
