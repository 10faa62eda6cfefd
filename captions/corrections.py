"""Corrections of stored finals: compare-and-set in the database, translation, fan-out.

A moderator corrects an utterance's source text from the control room (captions/control.py).
The correction is saved only if the utterance is still at the revision the moderator saw
(two moderators never silently overwrite each other), translated again into every target
language, kept beside the earlier texts (CaptionRevision), and sent to every listener as a
new revision of the same ``seq``: one REVISION envelope per listener stream, which each
process's hub also writes into its history cache so later joiners get the corrected text.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

from . import protocol
from .engines import get_engine
from .engines.base import SessionConfig
from .fanout import CONSOLE, Envelope, stream_name
from .models import Caption, CaptionRevision, Event
from .redis_client import key, tag

logger = logging.getLogger(__name__)

MAX_CORRECTION_CHARS = 1000  # an utterance's text; a control frame is at most 4 KiB anyway

Put = Callable[[str, Envelope], None]


@dataclass(frozen=True)
class Utterance:
    """One final as the control room shows it: source text, translations, revision, hold."""

    seq: int
    revision: int
    text: str
    translations: dict[str, str]
    start: float
    end: float
    held_until: float | None = None  # Unix time, while held for moderation
    stale: list[str] = field(default_factory=list)  # translations kept from an earlier text

    def message(self, kind: str = "final") -> dict[str, Any]:
        """The control room's message about this utterance (``final`` or ``revision``)."""
        return {
            "type": kind,
            "seq": self.seq,
            "revision": self.revision,
            "text": self.text,
            "translations": self.translations,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "held_until": self.held_until,
            "stale": self.stale,
        }


class CorrectionError(Exception):
    """A correction that was not saved; ``code`` is sent back to the moderator."""

    def __init__(self, code: str, detail: str, current: Utterance | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.current = current


def console_stream(event_id: int) -> str:
    """The Redis pub/sub channel of an event's control rooms."""
    return key("console", tag(event_id))


def console_envelope(utterance: Utterance, kind: str = "final") -> Envelope:
    return Envelope(CONSOLE, utterance.seq, True, protocol.dumps(utterance.message(kind)))


def final_envelopes(
    event_id: int,
    source_language: str,
    utterance: Utterance,
    kind: str,
) -> list[tuple[str, Envelope]]:
    """The final of ``utterance`` for every listener stream, as envelopes of ``kind``."""
    texts = {source_language: utterance.text, **utterance.translations}
    envelopes = []
    for language, text in texts.items():
        for with_source in (False, True):
            message = protocol.caption(
                seq=utterance.seq,
                language=language,
                final=True,
                text=text,
                start=utterance.start,
                end=utterance.end,
                source_language=source_language,
                source_text=utterance.text if with_source else None,
                revision=utterance.revision,
            )
            stream = stream_name(event_id, language, with_source=with_source)
            envelopes.append((stream, Envelope(kind, utterance.seq, True, protocol.dumps(message))))
    return envelopes


def utterance_of(rows: list[Caption], source_language: str, stale: list[str]) -> Utterance:
    """The utterance the stored rows of one ``seq`` (every language) describe."""
    source = next(row for row in rows if row.language == source_language)
    held = source.release_at.timestamp() if source.release_at is not None else None
    return Utterance(
        seq=source.seq,
        revision=source.revision,
        text=source.source_text,
        translations={row.language: row.text for row in rows if row.language != source_language},
        start=source.start,
        end=source.end,
        held_until=held,
        stale=stale,
    )


def _stale_of(source: Caption) -> list[str]:
    if not source.revision:
        return []
    revision = source.revisions.filter(revision=source.revision).first()
    return list(revision.stale_languages) if revision is not None else []


def _load(event_id: int, seq: int, source_language: str) -> Utterance | None:
    rows = list(Caption.objects.filter(event_id=event_id, seq=seq))
    source = next((row for row in rows if row.language == source_language), None)
    if source is None:
        return None
    return utterance_of(rows, source_language, _stale_of(source))


@database_sync_to_async
def load_utterance(event_id: int, seq: int, source_language: str) -> Utterance | None:
    """The stored final ``seq``, or None."""
    return _load(event_id, seq, source_language)


@database_sync_to_async
def recent_utterances(event_id: int, source_language: str, limit: int) -> list[Utterance]:
    """The newest ``limit`` finals, held ones included, oldest first."""
    sources = Caption.objects.filter(event_id=event_id, language=source_language)
    seqs = sorted(sources.order_by("-seq").values_list("seq", flat=True)[:limit])
    rows: dict[int, list[Caption]] = {}
    for row in Caption.objects.filter(event_id=event_id, seq__in=seqs):
        rows.setdefault(row.seq, []).append(row)
    stale = {
        r.caption.seq: list(r.stale_languages)
        for r in CaptionRevision.objects.filter(
            caption__event_id=event_id, caption__seq__in=seqs, caption__language=source_language
        ).select_related("caption")
        if r.revision == r.caption.revision
    }
    return [utterance_of(rows[seq], source_language, stale.get(seq, [])) for seq in seqs]


@database_sync_to_async
def save_correction(
    event_id: int,
    source_language: str,
    seq: int,
    base: int,
    text: str,
    translations: Mapping[str, str],
    stale: list[str],
    author_id: int | None,
) -> Utterance:
    """Store revision ``base + 1`` of final ``seq`` if it is still at ``base``.

    The compare-and-set is one UPDATE over every language row of the utterance, conditioned
    on the revision: of two moderators who saw the same revision, exactly one wins.
    """
    with transaction.atomic():
        updated = Caption.objects.filter(event_id=event_id, seq=seq, revision=base).update(
            revision=base + 1
        )
        if not updated:
            current = _load(event_id, seq, source_language)
            if current is None:
                raise CorrectionError("no_such_caption", f"no stored final {seq}")
            raise CorrectionError(
                "conflict",
                f"final {seq} was changed meanwhile (now revision {current.revision})",
                current,
            )
        rows = list(Caption.objects.filter(event_id=event_id, seq=seq))
        source = next(row for row in rows if row.language == source_language)
        if base == 0:  # the first correction keeps the original beside it
            original = utterance_of(rows, source_language, [])
            CaptionRevision.objects.get_or_create(
                caption=source,
                revision=0,
                defaults={"text": original.text, "translations": original.translations},
            )
        for row in rows:
            if row.language == source_language:
                row.text = text
            else:  # a language dropped from the event since keeps its text
                row.text = translations.get(row.language, row.text)
            row.source_text = text
        Caption.objects.bulk_update(rows, ["text", "source_text"])
        CaptionRevision.objects.create(
            caption=source,
            revision=base + 1,
            text=text,
            translations={k: v for k, v in translations.items()},
            stale_languages=stale,
            author_id=author_id,
        )
        return utterance_of(rows, source_language, stale)


@database_sync_to_async
def glossary_of(event_id: int) -> dict[str, dict[str, str]]:
    event = Event.objects.filter(pk=event_id).first()
    return event.glossary_terms() if event is not None else {}


async def translate(
    text: str, config: SessionConfig, previous: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """``text`` in every target language, and the languages whose old translation was kept.

    The engine translates first (the scripted test engine does; Whisper and Azure translate
    no text themselves), then the local text translators (Bergamot, Apertium) where they
    serve the pair; any other language keeps its previous translation, marked stale.
    """
    targets = [lang for lang in config.target_languages if lang != config.source_language]
    done = dict(await get_engine().translate_text(text, config))
    missing = [lang for lang in targets if not done.get(lang)]
    if missing:
        done.update(await asyncio.to_thread(_translate_locally, text, config, missing))
    stale = [lang for lang in targets if not done.get(lang)]
    translations = {lang: done.get(lang) or previous.get(lang, text) for lang in targets}
    return translations, stale


def _translate_locally(text: str, config: SessionConfig, targets: list[str]) -> dict[str, str]:
    """The local text translators' renderings of ``text`` (blocking; run off the loop)."""
    try:
        from .engines.offline.translation import get_translator
    except ImportError:  # the offline engine's packages are not installed
        return {}
    done: dict[str, str] = {}
    try:
        router = get_translator()
        for target in targets:
            if router.supports(config.source_language, target):
                done[target] = router.translate(
                    text, config.source_language, target, config.glossary
                )
    except Exception:  # a broken model must not lose the correction itself
        logger.warning("could not translate a correction", exc_info=True)
    return done


def check_text(text: object) -> str:
    """A correction's text, stripped; raise CorrectionError if it cannot be one."""
    if not isinstance(text, str):
        raise CorrectionError("malformed_message", 'correct needs a "text" string')
    text = " ".join(text.split())
    if not text:
        raise CorrectionError("empty_text", "a correction cannot be empty")
    if len(text) > MAX_CORRECTION_CHARS:
        raise CorrectionError(
            "text_too_long", f"a correction is at most {MAX_CORRECTION_CHARS} characters"
        )
    return text


class RevisionFollower:
    """Hands the control room's corrections to a presenter page's preview, as previews.

    A subscriber of the event's control room stream in this process's hub (captions/fanout.py).
    """

    def __init__(self, preview: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.preview = preview

    async def deliver(self, envelope: Envelope) -> None:
        """Called by the hub for every control room message; passes corrections on."""
        if envelope.kind != CONSOLE:
            return
        message = json.loads(envelope.text)
        if message.get("type") != "revision" or message.get("held_until") is not None:
            return
        await self.preview(
            {
                "type": "preview",
                "seq": message["seq"],
                "final": True,
                "revision": message["revision"],
                "source_text": message["text"],
                "translations": message["translations"],
                "start": message["start"],
                "end": message["end"],
            }
        )

    async def link_changed(self, up: bool) -> None:
        """The presenter hears of the link from its own publisher."""
