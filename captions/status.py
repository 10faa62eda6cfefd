"""An event's status: one store (the database row), one writer, one reader.

The presenter, the organizer's admin and recovery all change the status through
``write_status``; every page and socket reads it through ``read_status``. The stored value
says what the presenter (or organizer) last chose. "live" is believed only while a presenter
holds the event's lease (captions/lease.py): a crashed presenter process renews nothing, so
within a few seconds every reader sees "paused" with reason "presenter_lost", and no process
has to clean up after it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async

from . import lease, protocol
from .fanout import STATUS, Envelope, publish, stream_name
from .models import Event, EventStatus

logger = logging.getLogger(__name__)

PRESENTER_LOST = "presenter_lost"


@dataclass(frozen=True)
class Status:
    """What listeners are told: the state, and why when it is not what was chosen."""

    state: str
    reason: str | None = None

    def message(self, **details: object) -> dict:
        if self.reason:
            details["reason"] = self.reason
        return protocol.status(self.state, **details)


@database_sync_to_async
def stored_status(event_id: int) -> str:
    return Event.objects.filter(pk=event_id).values_list("status", flat=True).first() or ""


@database_sync_to_async
def _store(event_id: int, state: str) -> None:
    Event.objects.filter(pk=event_id).update(status=state)


def effective(stored: str, presenter_present: bool | None) -> Status:
    """The status readers see: "live" needs a presenter (None: unknown, Redis unreachable)."""
    if stored == EventStatus.LIVE and presenter_present is False:
        return Status(EventStatus.PAUSED, PRESENTER_LOST)
    return Status(stored)


async def read_status(event_id: int) -> Status:
    """The event's status as every page and socket must see it."""
    stored = await stored_status(event_id)
    try:
        present: bool | None = await lease.holder(event_id) is not None
    except Exception:  # Redis unreachable: the stored value is all there is
        logger.warning("could not read the presenter lease of event %s", event_id)
        present = None
    return effective(stored, present)


def status_envelopes(
    event_id: int, languages: list[str], status: Status
) -> list[tuple[str, Envelope]]:
    """One status message per listener stream of the event."""
    envelope = Envelope(STATUS, 0, False, protocol.dumps(status.message()))
    return [
        (stream_name(event_id, lang, with_source=with_source), envelope)
        for lang in languages
        for with_source in (False, True)
    ]


async def write_status(
    event_id: int, languages: list[str], status: Status, *, publisher=None
) -> None:
    """Store the event's new status and tell its listeners.

    ``publisher`` (a live session's captions.publisher.Publisher) keeps the message in order
    with the captions and retries it through a Redis outage; without one (the admin) the
    message is sent once, and listeners who miss it read the status on reconnecting.
    """
    await _store(event_id, status.state)
    envelopes = status_envelopes(event_id, languages, status)
    if publisher is not None:
        for stream, envelope in envelopes:
            publisher.put(stream, envelope)
        return
    try:
        await asyncio.gather(*(publish(stream, envelope) for stream, envelope in envelopes))
    except Exception:
        logger.warning("could not tell listeners of event %s its new status", event_id)
