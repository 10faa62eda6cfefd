"""Reading and writing final captions and speech clips, off the audio path."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from .models import Caption, Event
from .redis_client import get_redis, key, tag

SPEECH_TTL_SECONDS = 15 * 60


@database_sync_to_async
def store_final(
    event_id: int,
    seq: int,
    texts: Mapping[str, str],
    source_text: str,
    start: float,
    end: float,
    release_at: datetime | None = None,
) -> None:
    """Store one utterance's final text in every language; storing it twice is harmless.

    ``release_at``: the final is held for moderation until then (captions/hold.py).
    """
    rows = [
        Caption(
            event_id=event_id,
            seq=seq,
            language=lang,
            text=text,
            source_text=source_text,
            start=start,
            end=end,
            release_at=release_at,
        )
        for lang, text in texts.items()
    ]
    try:
        with transaction.atomic():
            Caption.objects.bulk_create(rows)
    except IntegrityError:
        Caption.objects.bulk_create(rows, ignore_conflicts=True)


@database_sync_to_async
def recent_finals(event_id: int, language: str, after: int | None) -> list[Caption]:
    """The latest finals in ``language`` (after sequence number ``after``), oldest first.

    Finals held for moderation are left out: listeners get them once they are released.
    """
    query = Caption.objects.filter(event_id=event_id, language=language, release_at=None)
    if after is not None:
        query = query.filter(seq__gt=after)
    newest = query.order_by("-seq")[: settings.CAPTION_HISTORY_LIMIT]
    return list(reversed(newest))


@database_sync_to_async
def next_seq(event_id: int) -> int:
    """Allocate the next utterance number for an event: unique across processes, never reused.

    The row lock taken by the UPDATE serializes allocators until the transaction ends.
    """
    with transaction.atomic():
        Event.objects.filter(pk=event_id).update(last_seq=F("last_seq") + 1)
        return Event.objects.filter(pk=event_id).values_list("last_seq", flat=True).get()


@database_sync_to_async
def unfinished_seqs(event_id: int, limit: int = 3) -> list[int]:
    """The newest utterance numbers handed out after the last stored final (at most ``limit``).

    Their partials may still be on listeners' screens; when the session that numbered them is
    gone, their finals will never come.
    """
    last_seq = Event.objects.filter(pk=event_id).values_list("last_seq", flat=True).first() or 0
    last_final = (
        Caption.objects.filter(event_id=event_id).order_by("-seq").values_list("seq", flat=True)
    ).first() or 0
    return list(range(max(last_final + 1, last_seq - limit + 1), last_seq + 1))


async def store_speech(
    event_id: int, seq: int, language: str, audio: bytes, content_type: str
) -> None:
    """Keep a speech clip for a while, for every server process to serve."""
    client = get_redis(binary=True)
    name = key("speech", tag(event_id), language, seq)
    await client.hset(name, mapping={"audio": audio, "content_type": content_type})
    await client.expire(name, SPEECH_TTL_SECONDS)


async def load_speech(event_id: int, seq: int, language: str) -> tuple[bytes, str] | None:
    """Return a stored speech clip and its content type, or None."""
    stored = await get_redis(binary=True).hgetall(key("speech", tag(event_id), language, seq))
    if not stored:
        return None
    return stored[b"audio"], stored[b"content_type"].decode()
