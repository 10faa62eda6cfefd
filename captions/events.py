"""Database access for the consumers, as plain snapshots they can use off the ORM."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from .engines.base import SessionConfig
from .history import shared_query
from .models import Event


@dataclass(frozen=True)
class EventInfo:
    """What a consumer needs to know about an event."""

    id: int
    slug: str
    title: str
    source_language: str
    target_languages: list[str]
    presenter_key: str
    status: str
    profanity: str
    glossary: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def audience_languages(self) -> list[str]:
        return [self.source_language, *self.target_languages]

    def session_config(self, speech_languages: frozenset[str] = frozenset()) -> SessionConfig:
        return SessionConfig(
            source_language=self.source_language,
            target_languages=tuple(self.target_languages),
            phrases=tuple(self.glossary),
            glossary=self.glossary,
            profanity=self.profanity,
            speech_languages=speech_languages,
        )


@database_sync_to_async
def load_event(slug: str) -> EventInfo | None:
    """Return the event with this short code, or None."""
    event = Event.objects.prefetch_related("languages", "glossary").filter(slug=slug).first()
    if event is None:
        return None
    return EventInfo(
        id=event.pk,
        slug=event.slug,
        title=event.title,
        source_language=event.source_language,
        target_languages=event.target_language_codes(),
        presenter_key=event.presenter_key,
        status=event.status,
        profanity=event.profanity,
        glossary=event.glossary_terms(),
    )


EVENT_CACHE_SECONDS = 2.0
EVENT_CACHE_SIZE = 1024  # slugs come from URLs anyone can type: the cache must not grow with them
_event_cache: collections.OrderedDict[str, tuple[float, EventInfo | None]] = (
    collections.OrderedDict()
)


async def load_event_cached(slug: str) -> EventInfo | None:
    """Like load_event, but reuses a lookup younger than two seconds.

    A join burst of hundreds of listeners a second then costs the database a query every
    two seconds instead of one per listener. Listeners read the status itself through
    captions.status.read_status, which is never stale. The least recently used entries go
    first once EVENT_CACHE_SIZE slugs are held, so random slugs cannot fill memory.
    """
    cached = _event_cache.get(slug)
    if cached is not None and time.monotonic() - cached[0] < EVENT_CACHE_SECONDS:
        _event_cache.move_to_end(slug)
        return cached[1]
    # Joiners who arrive while a lookup runs share it (a storm stampeded the database).
    loop_now = asyncio.get_running_loop().time()
    _, event = await shared_query().get(("event", slug), lambda: load_event(slug), loop_now - 1)
    _event_cache[slug] = (time.monotonic(), event)  # stamped when the lookup came back
    _event_cache.move_to_end(slug)
    while len(_event_cache) > EVENT_CACHE_SIZE:
        _event_cache.popitem(last=False)
    return event
