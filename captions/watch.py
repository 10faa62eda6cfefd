"""Notices, for this process's listeners, that an event's presenter is gone.

A presenter whose server process dies says nothing: its lease (captions/lease.py) just stops
being renewed and expires. Each process with listeners of an event checks the event's lease
once a second, in one Redis round trip for all of them. When a lease it saw held is missing on
two checks in a row, it tells its own listeners the status (captions/status.py says "paused",
reason "presenter_lost") and withdraws the partial left open, whose final can never come.
Every process does this for its own listeners, so nothing has to be published.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from . import lease, protocol
from .fanout import STATUS, WITHDRAWAL, Envelope, get_hub, stream_name
from .redis_client import mget
from .status import read_status

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
MISSES = 2  # checks in a row that must find no lease: a renewal may be a moment late
GRACE_SECONDS = 3.0  # after Redis comes back, presenters need a moment to take their leases again


@dataclass(frozen=True)
class WatchedEvent:
    """What the watch needs to tell an event's listeners."""

    id: int
    source_language: str
    languages: tuple[str, ...]


class PresenterWatch:
    """This process's watch over the presenters of events it has listeners for."""

    def __init__(self) -> None:
        self._events: dict[int, WatchedEvent] = {}
        self._followers: dict[int, int] = {}
        self._seen: dict[int, bool] = {}  # event id -> a lease was seen since the last loss
        self._misses: dict[int, int] = {}
        self._task: asyncio.Task | None = None

    def follow(self, event: WatchedEvent) -> None:
        """Called when a listener of ``event`` joins this process."""
        self._events[event.id] = event
        self._followers[event.id] = self._followers.get(event.id, 0) + 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def unfollow(self, event_id: int) -> None:
        """Called when a listener of the event leaves."""
        self._followers[event_id] = self._followers.get(event_id, 1) - 1
        if self._followers[event_id] <= 0:
            for table in (self._events, self._followers, self._seen, self._misses):
                table.pop(event_id, None)

    async def _run(self) -> None:
        while self._events:
            await asyncio.sleep(CHECK_SECONDS)
            hub = get_hub()
            now = asyncio.get_running_loop().time()
            if not hub.up or now - hub.up_since < GRACE_SECONDS:
                continue  # the hub has told listeners the link is down; judge nothing now
            try:
                await self.check()
            except Exception as exc:  # Redis trouble: the hub notices and tells listeners
                logger.debug("presenter check failed: %r", exc)

    async def check(self) -> None:
        """Look at every watched lease once; tell listeners of the events that lost theirs."""
        ids = list(self._events)
        if not ids:
            return
        # One MGET on a single server; on a cluster, one per slot (events live on many shards).
        holders = await mget([lease.lease_key(event_id) for event_id in ids])
        for event_id, holder in zip(ids, holders, strict=True):
            if holder is not None:
                self._seen[event_id] = True
                self._misses[event_id] = 0
                continue
            self._misses[event_id] = self._misses.get(event_id, 0) + 1
            if self._seen.get(event_id) and self._misses[event_id] >= MISSES:
                self._seen[event_id] = False
                event = self._events.get(event_id)
                if event is not None:
                    await self._presenter_lost(event)

    async def _presenter_lost(self, event: WatchedEvent) -> None:
        logger.info("presenter of event %s is gone (lease expired)", event.id)
        status = await read_status(event.id)
        status_text = protocol.dumps(status.message())
        hub = get_hub()
        for language in event.languages:
            for with_source in (False, True):
                stream = stream_name(event.id, language, with_source=with_source)
                seq = hub.open_partial(stream)
                if seq is not None:
                    message = protocol.withdrawal(
                        seq=seq,
                        language=language,
                        source_language=event.source_language,
                        with_source=with_source,
                    )
                    withdrawal = Envelope(WITHDRAWAL, seq, True, protocol.dumps(message))
                    await hub.deliver_local(stream, withdrawal)
                await hub.deliver_local(stream, Envelope(STATUS, 0, False, status_text))


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenterWatch] = (
    weakref.WeakKeyDictionary()
)


def get_watch() -> PresenterWatch:
    """This event loop's watch (one per server process in production)."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = PresenterWatch()
    return watch
