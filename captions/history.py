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
    ) -> tuple[float, object]:
        """When the run began, and its result: from a run begun no earlier than ``not_before``."""
        flight = self._flights.get(key)
        if flight is None or flight[0] < not_before or flight[1].done():
            future = asyncio.ensure_future(query())
            flight = self._flights[key] = (asyncio.get_running_loop().time(), future)
            future.add_done_callback(lambda done: self._land(key, done))
        return flight[0], await asyncio.shield(flight[1])

    def _land(self, key: tuple, done: asyncio.Future) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight[1] is done:
            del self._flights[key]


_queries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedQuery] = (
    weakref.WeakKeyDictionary()
)


def shared_query() -> SharedQuery:
    """This event loop's shared queries."""
    return _queries.setdefault(asyncio.get_running_loop(), SharedQuery())


async def recent_finals(
    event_id: int, language: str, not_before: float
) -> tuple[float, list[Caption]]:
    """When the read began, and the newest finals in ``language``, oldest first."""
    return await shared_query().get(
        ("finals", event_id, language),
        lambda: storage.recent_finals(event_id, language, None),
        not_before,
    )


class RecentFinals:
    """The newest finals of one stream, as its listeners receive them: filled once, then kept.

    The hub adds every final it hands out. The cache is complete, and serves joiners with no
    database query, once a fill from the database that began after the hub's subscription was
    confirmed has landed; losing Redis makes it incomplete again (finals may pass unseen).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._texts: dict[int, str] = {}
        self._complete = False
        self._broken_at = 0.0  # loop time of the last moment finals could have passed unseen
        self._frame: tuple[int | None, str] | None = None  # the whole history, serialized

    def add(self, seq: int, text: str) -> None:
        """Called for every final delivered on the stream."""
        self._texts[seq] = text
        self._frame = None
        if len(self._texts) > self.limit * 2:
            self._trim()

    def revise(self, seq: int, text: str) -> None:
        """Called for every correction on the stream: later joiners get the corrected text.

        Kept even before the final itself is cached: a fill that began earlier and lands
        later must not bring the old text back (fill never overwrites).
        """
        self._texts[seq] = text
        self._frame = None
        self._trim()

    def broken(self) -> None:
        """Called when the stream's subscription failed: finals may be missing from now on."""
        self._complete = False
        self._frame = None
        self._broken_at = asyncio.get_running_loop().time()

    def fill(self, rows: list[tuple[int, str]], started: float) -> None:
        """Merge a database read that began at loop time ``started``."""
        for seq, text in rows:
            self._texts.setdefault(seq, text)
        self._frame = None
        self._trim()
        if started >= self._broken_at:
            self._complete = True

    def after(self, seq: int | None) -> list[tuple[int, str]] | None:
        """The cached finals after ``seq``, oldest first; None unless the cache is complete."""
        if not self._complete:
            return None
        newest = sorted(self._texts)[-self.limit :]
        return [(s, self._texts[s]) for s in newest if seq is None or s > seq]

    def frame(self, seq: int | None) -> tuple[int | None, str] | None:
        """The newest finals after ``seq`` as one history frame, and the last seq in it.

        None unless the cache is complete. The whole history (``seq`` None) is serialized once
        and reused for every joiner until the next final or correction.
        """
        if seq is None and self._frame is not None and self._complete:
            return self._frame
        finals = self.after(seq)
        if finals is None:
            return None
        last = finals[-1][0] if finals else seq
        built = (last, history_frame([text for _, text in finals], last))
        if seq is None:
            self._frame = built
        return built

    def _trim(self) -> None:
        for seq in sorted(self._texts)[: max(0, len(self._texts) - self.limit)]:
            del self._texts[seq]


def history_frame(captions: list[str], last_seq: int | None) -> str:
    """One ``history`` message: caption messages already serialized (oldest first), and the
    listener's resume point after them (docs/websocket-api.md).

    Joined as text, so the captions are not parsed or encoded again.
    """
    last = "null" if last_seq is None else str(int(last_seq))
    return f'{{"type":"history","last_seq":{last},"captions":[' + ",".join(captions) + "]}"
