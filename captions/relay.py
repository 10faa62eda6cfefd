"""Relay one engine session's results: number utterances, store finals, fan out per language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from django.urls import reverse

from . import corrections, protocol, storage
from .corrections import CorrectionError, Utterance, console_envelope, console_stream
from .delay import StreamClock
from .engines.base import CaptionResult, EngineNotice, EngineResult, SpeechResult
from .fanout import CAPTION, REVISION, SPEECH, WITHDRAWAL, Envelope, stream_name
from .hold import HeldFinals
from .publisher import Publisher

logger = logging.getLogger(__name__)

Preview = Callable[[dict[str, Any]], Awaitable[None]]


class CaptionRelay:
    """Turns engine results into stored finals and one group message per language variant."""

    def __init__(
        self,
        *,
        event_id: int,
        slug: str,
        source_language: str,
        target_languages: list[str],
        preview: Preview,
        publisher: Publisher,
        hold: HeldFinals | None = None,
        clock: StreamClock | None = None,
    ) -> None:
        self.event_id = event_id
        self.slug = slug
        self.source_language = source_language
        self.target_languages = [lang for lang in target_languages if lang != source_language]
        self.preview = preview
        self.publisher = publisher
        self.hold = hold
        self.clock = clock  # when the session's audio arrived: finals are stamped with it
        self._seqs: dict[str, int] = {}
        self._open: set[int] = set()  # utterances shown as partials whose final has not come

    async def relay(self, result: EngineResult) -> None:
        """Called for every result the engine yields, in order."""
        if isinstance(result, CaptionResult) and result.is_revision:
            await self._revision(result)
        elif isinstance(result, CaptionResult):
            await self._caption(result)
        elif isinstance(result, SpeechResult):
            await self._speech(result)
        elif isinstance(result, EngineNotice):
            await self.preview(
                {"type": "engine", "state": result.kind.value, "detail": result.detail}
            )

    async def _seq_for(self, segment_id: str) -> int:
        if segment_id not in self._seqs:
            self._seqs[segment_id] = await storage.next_seq(self.event_id)
        return self._seqs[segment_id]

    def _texts(self, result: CaptionResult) -> dict[str, str]:
        return caption_texts(result, self.source_language, self.target_languages)

    async def _caption(self, result: CaptionResult) -> None:
        if self.publisher.fenced_out:
            return  # replaced by another connection: its captions are the event's now
        seq = await self._seq_for(result.segment_id)
        texts = self._texts(result)
        # While finals are held for moderation, listeners get nothing from the engine directly.
        holding = self.hold is not None and self.hold.active
        if result.is_final and result.source_text.strip():
            release_at = self.hold.until() if holding else None
            # Stored before it is sent, so a listener joining meanwhile finds it in history.
            await storage.store_final(
                self.event_id, seq, texts, result.source_text, result.start, result.end, release_at
            )
            self._put_console(seq, texts, result, release_at)
        if not holding:
            for lang, text in texts.items():
                self._put_caption(seq, lang, text, result)
        if result.is_final:
            self._open.discard(seq)
        else:
            self._open.add(seq)
        await self.preview(self._preview_message(seq, result))

    async def _revision(self, result: CaptionResult) -> None:
        """The engine's better text for a final it yielded before: saved and sent as revision 1.

        A moderator's correction wins: a final already corrected (or corrected meanwhile,
        the compare-and-set) keeps the moderator's text. A language the engine did not
        translate again keeps its earlier text, marked stale as a correction's would be.
        """
        seq = self._seqs.get(result.segment_id)
        if seq is None or self.publisher.fenced_out or not result.source_text.strip():
            return
        current = await corrections.load_utterance(self.event_id, seq, self.source_language)
        if current is None or current.revision != 0:
            return  # never stored (an empty final), or a moderator's correction stands
        translations = {
            lang: result.translations.get(lang) or current.translations.get(lang, "")
            for lang in self.target_languages
        }
        stale = [lang for lang in self.target_languages if not result.translations.get(lang)]
        try:
            saved = await corrections.save_correction(
                self.event_id, self.source_language, seq, 0, result.source_text, translations,
                stale, None,
            )  # fmt: skip
        except CorrectionError:
            return  # a moderator corrected it meanwhile
        self.publisher.put(console_stream(self.event_id), console_envelope(saved, "revision"))
        if saved.held_until is None:  # a held final goes out with its newest text anyway
            for stream, envelope in corrections.final_envelopes(
                self.event_id, self.source_language, saved, REVISION
            ):
                self.publisher.put(stream, envelope)

    async def withdraw_open(self) -> None:
        """Withdraw every partial whose utterance will get no final (the session ended)."""
        languages = [self.source_language, *self.target_languages]
        for seq in sorted(self._open):
            for stream, envelope in withdrawals(
                self.event_id, seq, self.source_language, languages
            ):
                self.publisher.put(stream, envelope)
            await self.preview({"type": "preview", "seq": seq, "final": True, "source_text": ""})
        self._open.clear()

    def _put_caption(self, seq: int, language: str, text: str, result: CaptionResult) -> None:
        """Queue the caption for both variants of the language's stream (with the original)."""
        heard = self._heard(result)
        for with_source in (False, True):
            message = protocol.caption(
                seq=seq,
                language=language,
                final=result.is_final,
                text=text,
                start=result.start,
                end=result.end,
                source_language=self.source_language,
                source_text=result.source_text if with_source else None,
            )
            if heard is not None:  # last: listener processes append their send time after it
                message["heard"] = heard
            stream = stream_name(self.event_id, language, with_source=with_source)
            self.publisher.put(
                stream, Envelope(CAPTION, seq, result.is_final, protocol.dumps(message))
            )

    def _put_console(
        self, seq: int, texts: dict[str, str], result: CaptionResult, release_at: datetime | None
    ) -> None:
        """Show the new final in the event's control rooms, held or not."""
        utterance = Utterance(
            seq=seq,
            revision=0,
            text=result.source_text,
            translations={k: v for k, v in texts.items() if k != self.source_language},
            start=result.start,
            end=result.end,
            held_until=release_at.timestamp() if release_at is not None else None,
        )
        self.publisher.put(console_stream(self.event_id), console_envelope(utterance))

    def _heard(self, result: CaptionResult) -> int | None:
        """When the audio of a final's last word arrived (epoch ms), if the clock knows."""
        if not result.is_final or self.clock is None or not result.source_text.strip():
            return None
        arrival = self.clock.arrival(result.end)
        return None if arrival is None else int(arrival * 1000)

    def _preview_message(self, seq: int, result: CaptionResult) -> dict[str, Any]:
        return {
            "type": "preview",
            "seq": seq,
            "final": result.is_final,
            "source_text": result.source_text,
            "translations": dict(result.translations),
            "start": round(result.start, 3),
            "end": round(result.end, 3),
        }

    async def _speech(self, result: SpeechResult) -> None:
        seq = self._seqs.get(result.segment_id)
        if seq is None:
            logger.warning("speech for unknown segment %s dropped", result.segment_id)
            return
        await storage.store_speech(
            self.event_id, seq, result.language, result.audio, result.content_type
        )
        if self.hold is not None and self.hold.active:
            return  # it would speak a held final before listeners may read it
        url = reverse("captions:speech", args=[self.slug, result.language, seq])
        message = protocol.speech(
            seq=seq, language=result.language, url=url, content_type=result.content_type
        )
        envelope = Envelope(SPEECH, seq, True, protocol.dumps(message))
        for with_source in (False, True):
            self.publisher.put(
                stream_name(self.event_id, result.language, with_source=with_source), envelope
            )


def caption_texts(
    result: CaptionResult, source_language: str, target_languages: list[str]
) -> dict[str, str]:
    """Each language's text of ``result``: the languages it goes to, and what they read.

    A final the engine did not translate into a language goes out in the spoken language:
    an untranslated caption is better than a missing one. A partial does not: engines
    translate only the words they will not take back (the embedded engine's agreed words),
    so the first partials of every utterance have no translation yet, and a listener who
    chose Spanish would read the speaker's English at the start of each one.
    """
    texts = {source_language: result.source_text}
    for lang in target_languages:
        translated = result.translations.get(lang)
        if translated or result.is_final:
            texts[lang] = translated or result.source_text
    return texts


def withdrawals(
    event_id: int, seq: int, source_language: str, languages: list[str]
) -> list[tuple[str, Envelope]]:
    """Withdrawal messages of utterance ``seq`` for every listener stream of the event."""
    messages = []
    for language in languages:
        for with_source in (False, True):
            message = protocol.withdrawal(
                seq=seq,
                language=language,
                source_language=source_language,
                with_source=with_source,
            )
            stream = stream_name(event_id, language, with_source=with_source)
            messages.append((stream, Envelope(WITHDRAWAL, seq, True, protocol.dumps(message))))
    return messages
