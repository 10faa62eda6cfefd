"""One presenter's stream through the offline engine: carries out the streaming policy's actions.

Every decision (when to decode, what is stable, when a caption is final) is made by the pure
policy (policy.py). This session only does the I/O around it: the voice-activity model on
each frame, decodes in a worker thread, translation and speech synthesis of what it emits,
in order. All live decoding shares one process-wide slot, because CTranslate2 already uses
every core for one decode: finals wait for it, partials are skipped while another presenter's
decode holds it, so a machine that cannot keep up drops partials instead of falling behind.
The look back at finals has a slot of its own, on a model at idle priority: it takes only
what the live decodes leave of the CPU and never holds one up.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import AsyncIterator

import numpy as np

from ... import metrics
from ..base import (
    SAMPLE_RATE,
    CaptionResult,
    EngineError,
    EngineNotice,
    EngineResult,
    EngineSession,
    NoticeKind,
    ResultKind,
    SessionConfig,
    SpeechResult,
)
from .actions import Behind, Cancel, Decode, Done, Final, Partial, Review, Revision
from .decoder import DecodeOptions, WhisperDecoder
from .policy import FRAME_SAMPLES, StreamingPolicy
from .review import revision

logger = logging.getLogger(__name__)

# One live decode at a time per process: CTranslate2 already uses every core for one decode.
DECODE_SLOT = threading.Lock()
# One look back at a time per process, on the idle-priority model (engine.look_back_decoder).
LOOK_BACK_SLOT = threading.Lock()

Emitted = Partial | Final | Revision | Behind | Done


class OfflineSession(EngineSession):
    """Streams one presenter's audio through Whisper, the translators and the synthesizers."""

    def __init__(
        self, engine, config: SessionConfig, policy: StreamingPolicy, partials: WhisperDecoder
    ) -> None:
        self.engine = engine
        self.config = config
        self.policy = policy
        self.partials = partials  # the decoder of partials (tiny.en for English), chosen once
        self.speech_languages = frozenset(config.speech_languages)
        self.queue: asyncio.Queue[EngineResult | EngineError | None] = asyncio.Queue()
        self.outbox: collections.deque[Emitted] = collections.deque()
        self.wake = asyncio.Event()
        self.pending = np.zeros(0, np.float32)  # samples short of a whole frame
        self.cancelled: set[int] = set()
        self.decodes: set[asyncio.Task] = set()
        self.decoded_until = 0  # stream sample: the audio every answered decode covered
        self.emitter = asyncio.create_task(self._emit_all())
        self.finishing = False
        self.closed = False

    # -------------------------------------------------------------- audio in

    async def send_audio(self, pcm: bytes) -> None:
        """Called for every audio frame; runs the cheap voice-activity model inline."""
        if self.closed or self.finishing:
            return
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.pending = np.concatenate([self.pending, samples])
        usable = len(self.pending) // FRAME_SAMPLES * FRAME_SAMPLES
        if not usable:
            return
        frames, self.pending = self.pending[:usable], self.pending[usable:]
        probabilities = self.engine.speech_probabilities(frames)
        self._carry_out(self.policy.feed(frames, probabilities))
        self._report_backlog()

    def _report_backlog(self) -> None:
        """Metrics: the seconds of speech received and not yet decoded."""
        policy = self.policy
        waiting = policy.utterance is not None or policy.ending or policy.asked
        backlog = (policy.now - self.decoded_until) / SAMPLE_RATE if waiting else 0.0
        metrics.set_decode_queue(backlog, session=self)

    def _carry_out(self, actions) -> None:
        for action in actions:
            if isinstance(action, Decode | Review):
                run = self._decode if isinstance(action, Decode) else self._review
                task = asyncio.create_task(run(action))
                self.decodes.add(task)
                task.add_done_callback(self.decodes.discard)
            elif isinstance(action, Cancel):
                self.cancelled.add(action.id)
            else:
                self.outbox.append(action)
                self.wake.set()

    # -------------------------------------------------------------- decoding

    async def _decode(self, request: Decode) -> None:
        try:
            text = await asyncio.to_thread(self._decode_now, request)
        except Exception as exc:
            logger.exception("speech recognition failed")
            self.queue.put_nowait(EngineError(f"speech recognition failed: {exc}", permanent=False))
            return
        if self.closed:
            return
        if text is None and not request.final:
            metrics.count_dropped_partial("engine")
        self._carry_out(self.policy.decoded(request.id, text))
        self._report_backlog()

    def _decode_now(self, request: Decode) -> str | None:
        """In a worker thread: wait for the decoder (finals) or give up if it is busy."""
        if not DECODE_SLOT.acquire(blocking=request.final):
            return None
        try:
            if request.id in self.cancelled or self.closed:
                self.cancelled.discard(request.id)
                return None
            hotwords = self.engine.hotwords(self.config) or ""
            options = DecodeOptions.for_request(request, self.config.source_language, hotwords)
            started = time.perf_counter()
            if request.final:
                text = self.engine.decoder.decode(request.audio, options)
            else:
                text = self.partials.decode(request.audio, options)
            took = time.perf_counter() - started
            new_audio = max(0, request.end - self.decoded_until) / SAMPLE_RATE
            metrics.observe_engine_rtf(new_audio, took)
            logger.debug(
                "decode %d %s of %.1f s audio to %.2f s: %.2f s, answered at %.2f s: %s",
                request.id,
                "final" if request.final else "partial",
                len(request.audio) / SAMPLE_RATE,
                request.end / SAMPLE_RATE,
                took,
                self._heard(),
                text,
            )
            self.decoded_until = max(self.decoded_until, request.end)
            return text
        finally:
            DECODE_SLOT.release()

    async def _review(self, request: Review) -> None:
        try:
            text = await asyncio.to_thread(self._review_now, request)
        except Exception:  # a failed look back must not end the session
            logger.exception("reviewing a final failed")
            text = ""
        if not self.closed:
            self._carry_out(self.policy.reviewed(request.id, text))

    def _review_now(self, request: Review) -> str | None:
        """In a worker thread, if no other look back runs: the final's better text, or ""."""
        if not LOOK_BACK_SLOT.acquire(blocking=False):
            return None
        try:
            if self.closed:
                return None
            options = DecodeOptions(
                self.config.source_language,
                beam_size=request.beam,
                prompt=request.prompt,
                hotwords=self.engine.hotwords(self.config) or "",
                window=request.window,
            )
            started = time.perf_counter()
            heard = self.engine.look_back_decoder.decode(request.audio, options)
            better = revision(request.texts, request.index, heard) or ""
            logger.debug(
                "look back at %s (%.1f s of audio) in %.2f s: %s -> %s",
                request.segment_id,
                len(request.audio) / SAMPLE_RATE,
                time.perf_counter() - started,
                request.texts[request.index],
                better or "(kept)",
            )
            return better
        finally:
            LOOK_BACK_SLOT.release()

    def _whisper_english(self, audio: np.ndarray) -> str:
        with DECODE_SLOT:
            options = DecodeOptions(self.config.source_language, task="translate")
            return self.engine.decoder.decode(audio, options)

    # -------------------------------------------------------------- results, in order

    async def _emit_all(self) -> None:
        try:
            while True:
                while not self.outbox:
                    self.wake.clear()
                    await self.wake.wait()
                action = self.outbox.popleft()
                if isinstance(action, Done):
                    return
                await self._emit(action)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("captioning failed")
            self.queue.put_nowait(EngineError(f"captioning failed: {exc}", permanent=False))
        finally:
            self.queue.put_nowait(None)

    async def _emit(self, action: Partial | Final | Revision | Behind) -> None:
        if isinstance(action, Behind):
            kind = NoticeKind.OVERLOADED if action.behind else NoticeKind.RECOVERED
            detail = "speech recognition is behind; partials dropped" if action.behind else ""
            self.queue.put_nowait(EngineNotice(kind, detail) if detail else EngineNotice(kind))
        elif isinstance(action, Partial):
            if not self._superseded(action):
                await self._emit_partial(action)
        elif isinstance(action, Revision):
            await self._emit_revision(action)
        else:
            await self._emit_final(action)

    def _superseded(self, partial: Partial) -> bool:
        """A newer partial or the final of the same utterance is already waiting."""
        return any(
            isinstance(a, Partial | Final) and a.segment_id == partial.segment_id
            for a in self.outbox
        )

    async def _emit_partial(self, partial: Partial) -> None:
        translations = await asyncio.to_thread(self.engine.translate, partial.stable, self.config)
        self.queue.put_nowait(
            CaptionResult(
                ResultKind.PARTIAL,
                partial.segment_id,
                partial.text,
                translations,
                partial.start,
                partial.end,
            )
        )

    async def _emit_final(self, final: Final) -> None:
        logger.debug("final %s at %.2f s: %s", final.segment_id, self._heard(), final.text)
        translations = await asyncio.to_thread(self.engine.translate, final.text, self.config)
        if final.text and self.engine.needs_whisper_english(self.config):
            english = await asyncio.to_thread(self._whisper_english, final.audio)
            translations = {**translations, "en": english or ""}
        self.queue.put_nowait(
            CaptionResult(
                ResultKind.FINAL, final.segment_id, final.text, translations, final.start, final.end
            )
        )
        if final.text:
            await self._speak(final.segment_id, final.text, translations)

    async def _emit_revision(self, revised: Revision) -> None:
        """A better text for a final already out: translated again, sent as a revision."""
        logger.info("final %s revised: %s", revised.segment_id, revised.text)
        translations = await asyncio.to_thread(self.engine.translate, revised.text, self.config)
        self.queue.put_nowait(
            CaptionResult(
                ResultKind.REVISION,
                revised.segment_id,
                revised.text,
                translations,
                revised.start,
                revised.end,
            )
        )

    async def _speak(self, segment_id: str, text: str, translations: dict[str, str]) -> None:
        texts = {self.config.source_language: text, **translations}
        for language in sorted(self.speech_languages):
            spoken = texts.get(language)
            if not spoken:
                continue
            clip = await asyncio.to_thread(self.engine.synthesize, spoken, language)
            if clip is not None:
                self.queue.put_nowait(SpeechResult(segment_id, language, clip[0], clip[1]))

    def _heard(self) -> float:
        """Seconds of audio received: stream time, for the debug log."""
        return self.policy.now / SAMPLE_RATE

    # -------------------------------------------------------------- lifecycle

    async def results(self) -> AsyncIterator[EngineResult]:
        while (item := await self.queue.get()) is not None:
            if isinstance(item, EngineError):
                raise item
            yield item

    async def finish(self) -> None:
        """Finalize the open utterance, then end the results once every final is out."""
        if self.closed or self.finishing:
            return
        self.finishing = True
        self._carry_out(self.policy.finish())

    async def close(self) -> None:
        self.closed = True
        metrics.set_decode_queue(0, session=self)
        for task in (*self.decodes, self.emitter):
            task.cancel()
        self.queue.put_nowait(None)

    async def set_speech_languages(self, languages: frozenset[str]) -> None:
        self.speech_languages = frozenset(languages)
