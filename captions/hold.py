"""Holding finals for moderation: stored at once, released to listeners after the hold.

With a hold on (Event.hold_seconds), the relay stores every final with the time it may go out
(Caption.release_at) and sends listeners nothing, partials included; only the control room sees
it. The presenter's process (LiveEvent's ticker) then releases due finals in speaking order
through its fenced publisher, with whatever text they have by then. Everything needed is in
the database: a presenter process that dies with finals held loses none of them, the next
presenter connection (or the control room, when no presenter holds the event) releases them.
A moderator's "release now" only moves a final's time forward, so there is one releaser.

Finals go out in order: one is released only once every earlier held final is, because a
listener skips any final numbered below the last one it holds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from . import protocol
from .corrections import Put, Utterance, console_stream, final_envelopes, utterance_of
from .fanout import CAPTION, CONSOLE, Envelope
from .models import Caption

logger = logging.getLogger(__name__)

MAX_SEQ = 2**31 - 1  # Caption.seq is a PositiveIntegerField: an integer column in every database


@database_sync_to_async
def any_held(event_id: int) -> bool:
    return Caption.objects.filter(event_id=event_id, release_at__isnull=False).exists()


@database_sync_to_async
def release_through(event_id: int, seq: int) -> int:
    """Make the held finals up to ``seq`` due now; how many rows were held."""
    held = Caption.objects.filter(event_id=event_id, seq__lte=seq, release_at__isnull=False)
    return held.update(release_at=timezone.now())


@database_sync_to_async
@transaction.atomic
def take_due(event_id: int, source_language: str) -> tuple[list[Utterance], bool]:
    """Unhold the due finals that no earlier held final waits before; and whether any is left."""
    now = timezone.now()
    held = Caption.objects.filter(event_id=event_id, release_at__isnull=False)
    due: list[int] = []
    waiting = False
    for seq, release_at in held.order_by("seq").values_list("seq", "release_at"):
        if release_at > now:
            waiting = True
            break
        if not due or due[-1] != seq:
            due.append(seq)
    if not due:
        return [], waiting
    rows: dict[int, list[Caption]] = {}
    for row in Caption.objects.filter(event_id=event_id, seq__in=due):
        rows.setdefault(row.seq, []).append(row)
    Caption.objects.filter(event_id=event_id, seq__in=due).update(release_at=None)
    released = [utterance_of(rows[seq], source_language, []) for seq in due if seq in rows]
    return released, waiting


class HeldFinals:
    """The hold of one live event, as its presenter connection applies it."""

    def __init__(self, event_id: int, source_language: str) -> None:
        self.event_id = event_id
        self.source_language = source_language
        self.seconds = 0  # the organizer's setting, followed every second
        self.pending = False  # finals may be held in the database

    @property
    def active(self) -> bool:
        """Whether a new final is held: a hold is set, or earlier finals still wait."""
        return self.seconds > 0 or self.pending

    def until(self) -> datetime | None:
        """When a final produced now may go to listeners; None if it goes at once."""
        if not self.active:
            return None
        self.pending = True
        return timezone.now() + timedelta(seconds=self.seconds)

    async def load(self) -> None:
        """Called when a presenter connection takes the event: finals left held by another."""
        self.pending = await any_held(self.event_id)

    async def release_due(self, put: Put) -> None:
        """Called on every tick: send the finals whose hold is over, in order."""
        if not self.pending:
            return
        released, self.pending = await take_due(self.event_id, self.source_language)
        for utterance in released:
            for stream, envelope in final_envelopes(
                self.event_id, self.source_language, utterance, CAPTION
            ):
                put(stream, envelope)
        if released:
            message = {"type": "released", "seqs": [u.seq for u in released]}
            put(
                console_stream(self.event_id),
                Envelope(CONSOLE, released[-1].seq, True, protocol.dumps(message)),
            )
            logger.info("released %d held finals of event %s", len(released), self.event_id)

    async def release_all(self, put: Put) -> None:
        """Called when the presenter leaves: nobody would release what is still held."""
        if self.pending:
            await release_through(self.event_id, MAX_SEQ)
            await self.release_due(put)
