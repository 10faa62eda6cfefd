"""One presenter's stream through the embedded engine: endpointing, partials, finals.

Audio is cut into utterances by voice activity (endpointing.py). While an utterance is open
it is re-decoded about once a second for a partial (beam 1), shown through the stable-prefix
policy (agreement.py); when it ends it is decoded once more for the final (wider beam),
translated in full and, where listeners want it, spoken. The final decode starts early, as
soon as the speaker pauses, and is thrown away if they go on: a pause that ends the
utterance then costs the decode or the pause, whichever is longer, not both. All decoding
shares one process-wide slot: finals wait for it, partials are skipped while it is busy,
so a machine that cannot keep up drops partials instead of falling further behind.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

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
from .agreement import StablePrefix
from .decoding import DecodeOptions, decode
from .endpointing import FRAME_SAMPLES, Endpointer, Event

logger = logging.getLogger(__name__)

PARTIAL_EVERY = 1.0  # seconds of new audio between partial decodes
FIRST_PARTIAL_AFTER = 0.6  # seconds of utterance before the first partial
PREROLL_FRAMES = 8  # ~250 ms kept before the first voiced frame
OVERLOAD_AFTER = 2.0  # seconds of skipped partials before the presenter is told
FINAL_BEAM = 3
PAUSE_BEFORE_FINAL = 0.2  # seconds of silence that start the final decode instead of partials

# One decode at a time per process: CTranslate2 already uses every core for one decode.
DECODE_SLOT = threading.Lock()


def log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("early final decode failed", exc_info=task.exception())


@dataclass
class Utterance:
    """Audio of one open utterance and where it began (seconds from session start)."""

    segment_id: str
    start: float
    frames: list[np.ndarray]
    partials_sent: int = 0
    early: asyncio.Task | None = None  # the final decode started at the pause, if still valid
    resumed: int = 0  # times speech went on after such a pause

    def audio(self) -> np.ndarray:
        return np.concatenate(self.frames) if self.frames else np.zeros(0, np.float32)

    @property
    def seconds(self) -> float:
        return sum(len(f) for f in self.frames) / SAMPLE_RATE


class WhisperSession(EngineSession):
    """Streams one presenter's audio through Whisper, the translators and the synthesizers."""

    def __init__(self, engine, config: SessionConfig) -> None:
        self.engine = engine
        self.config = config
        self.speech_languages = frozenset(config.speech_languages)
        self.queue: asyncio.Queue[EngineResult | EngineError | None] = asyncio.Queue()
        self.finals: asyncio.Queue[Utterance | None] = asyncio.Queue()
        self.endpointer = Endpointer()
        self.preroll: collections.deque[np.ndarray] = collections.deque(maxlen=PREROLL_FRAMES)
        self.pending = np.zeros(0, np.float32)
        self.samples = 0  # frames' samples seen so far
        self.utterance: Utterance | None = None
        self.agreement = StablePrefix()
        self.count = 0
        self.partial_task: asyncio.Task | None = None
        self.partial_audio_at = 0.0
        self.skipped_since: float | None = None
        self.overloaded = False
        self.worker = asyncio.create_task(self._final_worker())
        self.closed = False

    # -------------------------------------------------------------- audio in

    async def send_audio(self, pcm: bytes) -> None:
        """Called for every audio frame; runs the cheap voice-activity model inline."""
        if self.closed:
            return
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.pending = np.concatenate([self.pending, samples])
        usable = len(self.pending) // FRAME_SAMPLES * FRAME_SAMPLES
        if not usable:
            return
        frames, self.pending = self.pending[:usable], self.pending[usable:]
        probabilities = self.engine.speech_probabilities(frames)
        for index, probability in enumerate(probabilities):
            self._frame(frames[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES], probability)
        self._maybe_partial()

    def _frame(self, frame: np.ndarray, probability: float) -> None:
        event = self.endpointer.feed(float(probability))
        now = self.samples / SAMPLE_RATE
        self.samples += len(frame)
        if event is Event.STARTED:
            preroll = list(self.preroll)
            start = now - sum(len(f) for f in preroll) / SAMPLE_RATE
            self.utterance = Utterance(self._next_id(), max(0.0, start), [*preroll, frame])
            self.preroll.clear()
            return
        if self.utterance is None:
            self.preroll.append(frame)
            return
        self.utterance.frames.append(frame)
        if self.endpointer.silence == 0.0 and self.utterance.early is not None:
            self.utterance.early = None  # speech went on after the pause: that decode is stale
            self.utterance.resumed += 1
        if event is Event.ENDED or event is Event.CUT:
            self._close_utterance(keep_open=event is Event.CUT)

    def _next_id(self) -> str:
        self.count += 1
        return f"w{self.count}"

    def _close_utterance(self, *, keep_open: bool) -> None:
        utterance, self.utterance = self.utterance, None
        self.agreement = StablePrefix()
        self.partial_audio_at = 0.0
        if utterance is not None and (self.endpointer.has_speech or keep_open):
            self.finals.put_nowait(utterance)
        elif utterance is not None and utterance.partials_sent:
            self.finals.put_nowait(utterance)  # decoded anyway: withdraws its partials if empty
        if keep_open:
            now = self.samples / SAMPLE_RATE
            self.utterance = Utterance(self._next_id(), now, [])

    # -------------------------------------------------------------- partials

    def _maybe_partial(self) -> None:
        utterance = self.utterance
        if utterance is None or not self.endpointer.has_speech:
            return
        if self.endpointer.silence >= PAUSE_BEFORE_FINAL:
            if utterance.early is None:
                self._start_early_final(utterance)
            return
        due = (
            FIRST_PARTIAL_AFTER
            if not self.partial_audio_at
            else self.partial_audio_at + PARTIAL_EVERY
        )
        if utterance.seconds < due:
            return
        if (self.partial_task and not self.partial_task.done()) or DECODE_SLOT.locked():
            self._note_skipped()
            return
        self.partial_audio_at = utterance.seconds
        self.partial_task = asyncio.create_task(self._partial(utterance, utterance.audio()))

    def _start_early_final(self, utterance: Utterance) -> None:
        """The speaker paused: decode the final now, in case the pause ends the utterance."""
        audio, pause = utterance.audio(), utterance.resumed

        def still_wanted() -> bool:  # a stale decode still waiting for the slot is skipped
            return utterance.resumed == pause

        utterance.early = asyncio.create_task(
            asyncio.to_thread(self._decode, audio, FINAL_BEAM, "transcribe", True, still_wanted)
        )
        # A stale early decode is never awaited; its failure must not go unlogged.
        utterance.early.add_done_callback(log_failure)

    def _note_skipped(self) -> None:
        now = self.samples / SAMPLE_RATE
        if self.skipped_since is None:
            self.skipped_since = now
        elif not self.overloaded and now - self.skipped_since >= OVERLOAD_AFTER:
            self.overloaded = True
            self.queue.put_nowait(
                EngineNotice(
                    NoticeKind.OVERLOADED, "speech recognition is behind; partials dropped"
                )
            )

    async def _partial(self, utterance: Utterance, audio: np.ndarray) -> None:
        text = await asyncio.to_thread(self._decode, audio, 1, "transcribe", False)
        if text is None or self.utterance is not utterance or self.closed:
            return  # skipped, or the utterance ended meanwhile: its final supersedes this
        self._recovered()
        stable, rest = self.agreement.update(text)
        translations = await asyncio.to_thread(self.engine.translate, stable, self.config)
        if self.utterance is not utterance or not (stable or rest):
            return
        utterance.partials_sent += 1
        end = utterance.start + len(audio) / SAMPLE_RATE
        self.queue.put_nowait(
            CaptionResult(
                ResultKind.PARTIAL,
                utterance.segment_id,
                " ".join(filter(None, [stable, rest])),
                translations,
                utterance.start,
                end,
            )
        )

    def _recovered(self) -> None:
        self.skipped_since = None
        if self.overloaded:
            self.overloaded = False
            self.queue.put_nowait(EngineNotice(NoticeKind.RECOVERED))

    def _decode(
        self,
        audio: np.ndarray,
        beam: int,
        task: str,
        wait: bool,
        wanted: Callable[[], bool] | None = None,
    ) -> str | None:
        """Decode in a worker thread; without ``wait``, give up at once if the slot is busy.

        ``wanted`` is asked once the slot is ours: a decode nobody needs any more gives it up.
        """
        if not DECODE_SLOT.acquire(blocking=wait):
            return None
        try:
            if wanted is not None and not wanted():
                return None
            options = DecodeOptions(
                self.config.source_language, beam, task, self.engine.hotwords(self.config)
            )
            return decode(self.engine.model, audio, options)
        finally:
            DECODE_SLOT.release()

    # -------------------------------------------------------------- finals

    async def _final_worker(self) -> None:
        try:
            while (utterance := await self.finals.get()) is not None:
                await self._final(utterance)
        except Exception as exc:
            logger.exception("final decoding failed")
            self.queue.put_nowait(EngineError(f"speech recognition failed: {exc}", permanent=False))
        finally:
            self.queue.put_nowait(None)

    async def _final(self, utterance: Utterance) -> None:
        audio = utterance.audio()
        if utterance.early is not None:
            # Started at the pause and still valid: only silence came after that audio.
            text = await utterance.early
        else:
            text = await asyncio.to_thread(self._decode, audio, FINAL_BEAM, "transcribe", True)
        if not text and not utterance.partials_sent:
            return
        translations = await asyncio.to_thread(self.engine.translate, text, self.config)
        if text and self.engine.needs_whisper_english(self.config):
            english = await asyncio.to_thread(self._decode, audio, 1, "translate", True)
            translations = {**translations, "en": english or ""}
        end = utterance.start + len(audio) / SAMPLE_RATE
        self.queue.put_nowait(
            CaptionResult(
                ResultKind.FINAL,
                utterance.segment_id,
                text or "",
                translations,
                utterance.start,
                end,
            )
        )
        if text:
            await self._speak(utterance.segment_id, text, translations)

    async def _speak(self, segment_id: str, text: str, translations: dict[str, str]) -> None:
        texts = {self.config.source_language: text, **translations}
        for language in sorted(self.speech_languages):
            spoken = texts.get(language)
            if not spoken:
                continue
            clip = await asyncio.to_thread(self.engine.synthesize, spoken, language)
            if clip is not None:
                self.queue.put_nowait(SpeechResult(segment_id, language, clip[0], clip[1]))

    # -------------------------------------------------------------- results and lifecycle

    async def results(self) -> AsyncIterator[EngineResult]:
        while (item := await self.queue.get()) is not None:
            if isinstance(item, EngineError):
                raise item
            yield item

    async def finish(self) -> None:
        """Finalize the open utterance, then end the results once every final is out."""
        if self.closed:
            return
        if self.utterance is not None:
            self._close_utterance(keep_open=False)
        self.closed = True
        if self.partial_task is not None:
            self.partial_task.cancel()  # the final supersedes it
        self.finals.put_nowait(None)

    async def close(self) -> None:
        self.closed = True
        for task in (self.partial_task, self.worker):
            if task is not None:
                task.cancel()
        self.queue.put_nowait(None)

    async def set_speech_languages(self, languages: frozenset[str]) -> None:
        self.speech_languages = frozenset(languages)
