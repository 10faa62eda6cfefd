"""whisper_streaming's LocalAgreement-2, ported to run as an engine through bench/engine.py.

Issue 10: "whisper_streaming's LocalAgreement-2 is the reference to beat." This is a port of
``HypothesisBuffer`` and ``OnlineASRProcessor`` from ufal/whisper_streaming's
``whisper_online.py`` at commit 1f25a1a48bd9807159989e6596178c69e797ac75 (the file last
changed in 4fde005708f98620fd2c7700b675c9a3e1b3f080), with its defaults: buffer trimming by
"segment" at 15 s, ``min_chunk_size`` 1.0 s, prompt = the committed text that scrolled out
of the audio buffer, up to 200 characters, and ``FasterWhisperASR.transcribe`` (beam 5,
word timestamps, conditioned on previous text, no VAD; words of segments with
no_speech_prob > 0.9 dropped). The logic is kept line for line, ``chunk_completed_segment``
included; the differences:

- the model is the one the offline engine loads (captions.engines.offline.model.load_model:
  Whisper base, CTranslate2 int8 on the CPU) instead of large-v2 float16 on CUDA;
- ``process_iter`` and ``finish`` return the committed words rather than them joined
  (``to_flush``), so that sentences can be cut below; "sentence" trimming (needs a sentence
  tokenizer) and the VAC wrapper are left out, as they are off by default.

The server loop (whisper_online_server.py): one decode at a time, run again as soon as the
previous one finished and at least ``min_chunk`` seconds of new audio arrived; all audio
received by then goes into that decode. Decodes run in a worker thread (asyncio.to_thread)
under one process-wide lock, so two presenters take turns as with the offline engine. At
``finish()`` the audio not yet decoded goes through one last ``process_iter`` (as the
simulation in whisper_online.py does), then ``OnlineASRProcessor.finish`` flushes the
uncommitted words. In the bench's fast run (no pacing) all the audio is already waiting at
the first decode, so this loop, like the server, decodes the whole file at once: its RTF is
that of one offline decode, not of streaming; cpu/s at pace is the cost to compare.

Output mapping: whisper_streaming emits only committed words. Here each committed chunk is
appended to the open segment and sent as a PARTIAL of it (so partials only grow); a
committed word ending in ``.``, ``?`` or ``!`` (not an ellipsis) closes the segment with a
FINAL, so finals are sentences; ``finish()`` sends the rest as the last FINAL. Offsets are
the words' times in the stream. There is no translation (``translations`` is empty): for
equal CPU conditions run the bench with ``--targets ""``.

    python bench/engine.py --baseline-engine bench.local_agreement.LocalAgreementEngine
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from captions.engines.base import (
    SAMPLE_RATE,
    CaptionResult,
    Engine,
    EngineError,
    EngineResult,
    EngineSession,
    LanguageSupport,
    ResultKind,
    SessionConfig,
)

logger = logging.getLogger(__name__)

Word = tuple[float, float, str]  # (begin, end, text); faster-whisper's text has its space
MIN_CHUNK = 1.0  # seconds: --min-chunk-size
TRIMMING = ("segment", 15)  # --buffer_trimming, --buffer_trimming_sec
DECODE_SLOT = threading.Lock()  # one decode at a time per process


# ------------------------------------------------------------------ the port (no I/O)


class FasterWhisperASR:
    """whisper_online.FasterWhisperASR around an already loaded WhisperModel."""

    sep = ""  # faster-whisper emits the spaces

    def __init__(self, model, language: str | None) -> None:
        self.model = model
        self.original_language = language
        self.transcribe_kargs: dict = {}

    def transcribe(self, audio: np.ndarray, init_prompt: str = "") -> list:
        """Decode ``audio`` with whisper_streaming's options."""
        segments, _ = self.model.transcribe(
            audio,
            language=self.original_language,
            initial_prompt=init_prompt,
            beam_size=5,
            word_timestamps=True,
            condition_on_previous_text=True,
            **self.transcribe_kargs,
        )
        return list(segments)

    def ts_words(self, segments) -> list[Word]:
        """The words with times, skipping segments Whisper thinks are not speech."""
        return [
            (word.start, word.end, word.word)
            for segment in segments
            for word in segment.words or []
            if segment.no_speech_prob <= 0.9
        ]

    def segments_end_ts(self, res) -> list[float]:
        return [s.end for s in res]


class HypothesisBuffer:
    """LocalAgreement-2: commits the longest common prefix of the last two hypotheses."""

    def __init__(self) -> None:
        self.commited_in_buffer: list[Word] = []
        self.buffer: list[Word] = []
        self.new: list[Word] = []
        self.last_commited_time = 0.0
        self.last_commited_word: str | None = None

    def insert(self, new: list[Word], offset: float) -> None:
        """Take a hypothesis: keep the words after the committed ones, minus a repeated n-gram."""
        new = [(a + offset, b + offset, t) for a, b, t in new]
        self.new = [(a, b, t) for a, b, t in new if a > self.last_commited_time - 0.1]
        if len(self.new) >= 1:
            a, _, _ = self.new[0]
            if abs(a - self.last_commited_time) < 1 and self.commited_in_buffer:
                # 1..5 consecutive words identical at the end of committed and the start of
                # new were transcribed again: drop them from new.
                cn = len(self.commited_in_buffer)
                nn = len(self.new)
                for i in range(1, min(min(cn, nn), 5) + 1):
                    c = " ".join([self.commited_in_buffer[-j][2] for j in range(1, i + 1)][::-1])
                    tail = " ".join(self.new[j - 1][2] for j in range(1, i + 1))
                    if c == tail:
                        for _ in range(i):
                            self.new.pop(0)
                        logger.debug("removing last %s words", i)
                        break

    def flush(self) -> list[Word]:
        """Return the committed chunk: the longest common prefix of the last two inserts."""
        commit = []
        while self.new:
            na, nb, nt = self.new[0]
            if len(self.buffer) == 0:
                break
            if nt == self.buffer[0][2]:
                commit.append((na, nb, nt))
                self.last_commited_word = nt
                self.last_commited_time = nb
                self.buffer.pop(0)
                self.new.pop(0)
            else:
                break
        self.buffer = self.new
        self.new = []
        self.commited_in_buffer.extend(commit)
        return commit

    def pop_commited(self, time: float) -> None:
        while self.commited_in_buffer and self.commited_in_buffer[0][1] <= time:
            self.commited_in_buffer.pop(0)

    def complete(self) -> list[Word]:
        return self.buffer


class OnlineASRProcessor:
    """whisper_online.OnlineASRProcessor with "segment" buffer trimming."""

    SAMPLING_RATE = 16000

    def __init__(self, asr, buffer_trimming: tuple[str, float] = TRIMMING) -> None:
        self.asr = asr
        self.init()
        self.buffer_trimming_way, self.buffer_trimming_sec = buffer_trimming

    def init(self, offset: float | None = None) -> None:
        """Called when starting or restarting processing."""
        self.audio_buffer = np.array([], dtype=np.float32)
        self.transcript_buffer = HypothesisBuffer()
        self.buffer_time_offset = offset or 0
        self.transcript_buffer.last_commited_time = self.buffer_time_offset
        self.commited: list[Word] = []

    def insert_audio_chunk(self, audio: np.ndarray) -> None:
        self.audio_buffer = np.append(self.audio_buffer, audio)

    def prompt(self) -> tuple[str, str]:
        """(prompt, context): up to 200 characters of committed text that scrolled out of the
        audio buffer, and the committed text still inside it (for logging only)."""
        k = max(0, len(self.commited) - 1)
        while k > 0 and self.commited[k - 1][1] > self.buffer_time_offset:
            k -= 1
        p = [t for _, _, t in self.commited[:k]]
        prompt = []
        length = 0
        while p and length < 200:  # 200 characters prompt size
            x = p.pop(-1)
            length += len(x) + 1
            prompt.append(x)
        non_prompt = self.commited[k:]
        return self.asr.sep.join(prompt[::-1]), self.asr.sep.join(t for _, _, t in non_prompt)

    def process_iter(self) -> list[Word]:
        """Decode the audio buffer; return the newly committed words (often none)."""
        prompt, _ = self.prompt()
        res = self.asr.transcribe(self.audio_buffer, init_prompt=prompt)
        tsw = self.asr.ts_words(res)
        self.transcript_buffer.insert(tsw, self.buffer_time_offset)
        o = self.transcript_buffer.flush()
        self.commited.extend(o)
        s = self.buffer_trimming_sec if self.buffer_trimming_way == "segment" else 30
        if len(self.audio_buffer) / self.SAMPLING_RATE > s:
            self.chunk_completed_segment(res)
        return o

    def chunk_completed_segment(self, res) -> None:
        """Trim the audio at the end of the last-but-one Whisper segment that is committed."""
        if self.commited == []:
            return
        ends = self.asr.segments_end_ts(res)
        t = self.commited[-1][1]
        if len(ends) <= 1:
            logger.debug("--- not enough segments to chunk")
            return
        e = ends[-2] + self.buffer_time_offset
        while len(ends) > 2 and e > t:
            ends.pop(-1)
            e = ends[-2] + self.buffer_time_offset
        if e <= t:
            logger.debug("--- segment chunked at %.2f", e)
            self.chunk_at(e)
        else:
            logger.debug("--- last segment not within commited area")

    def chunk_at(self, time: float) -> None:
        """Trim the hypothesis and the audio buffer at ``time``."""
        self.transcript_buffer.pop_commited(time)
        cut_seconds = time - self.buffer_time_offset
        self.audio_buffer = self.audio_buffer[int(cut_seconds * self.SAMPLING_RATE) :]
        self.buffer_time_offset = time

    def finish(self) -> list[Word]:
        """Called when the whole processing ends: the uncommitted words of the last decode."""
        o = self.transcript_buffer.complete()
        self.buffer_time_offset += len(self.audio_buffer) / self.SAMPLING_RATE
        return o


# ------------------------------------------------------------------ committed words -> captions


def ends_sentence(text: str) -> bool:
    text = text.strip().rstrip("\"')»”’")
    return text.endswith((".", "?", "!")) and not text.endswith("..")


@dataclass
class Captioner:
    """Committed words in, (kind, segment id, text, start, end) captions out: see above."""

    words: list[Word] = field(default_factory=list)
    number: int = 0

    def add(self, words: list[Word], last: bool = False) -> list[tuple]:
        """Called with each committed chunk; ``last`` with the flushed words at the end."""
        out = []
        for word in words:
            self.words.append(word)
            if ends_sentence(word[2]):
                out.append(self._caption(ResultKind.FINAL))
        if self.words and (words or last):
            out.append(self._caption(ResultKind.FINAL if last else ResultKind.PARTIAL))
        return out

    def _caption(self, kind: ResultKind) -> tuple:
        words = self.words
        text = "".join(w[2] for w in words).strip()
        caption = (kind, f"la-{self.number}", text, words[0][0], words[-1][1])
        if kind is ResultKind.FINAL:
            self.words = []
            self.number += 1
        return caption


# ------------------------------------------------------------------ the engine (asyncio)


class LocalAgreementEngine(Engine):
    """whisper_streaming's policy on the offline engine's Whisper model, for the bench."""

    name = "local-agreement"

    def __init__(self, **options) -> None:
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from captions.engines.offline.model import load_model

            self._model = load_model()
        return self._model

    def language_support(self) -> LanguageSupport:
        return LanguageSupport(sources={})

    async def start_session(self, config: SessionConfig) -> EngineSession:
        from captions.engines.offline.languages import normalize_language

        model = await asyncio.to_thread(lambda: self.model)
        asr = FasterWhisperASR(model, normalize_language(config.source_language))
        return LocalAgreementSession(OnlineASRProcessor(asr))


class LocalAgreementSession(EngineSession):
    """whisper_online_server's loop: decode whenever min_chunk of new audio is waiting."""

    def __init__(self, processor: OnlineASRProcessor, min_chunk: float = MIN_CHUNK) -> None:
        self.processor = processor
        self.min_samples = int(min_chunk * SAMPLE_RATE)
        self.captioner = Captioner()
        self.waiting = np.zeros(0, np.float32)  # received, not yet handed to the processor
        self.arrived = asyncio.Event()
        self.queue: asyncio.Queue[EngineResult | EngineError | None] = asyncio.Queue()
        self.finishing = False
        self.closed = False
        self.loop = asyncio.create_task(self._run())

    async def send_audio(self, pcm: bytes) -> None:
        """Called for every frame: only queues the audio."""
        if self.closed or self.finishing:
            return
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.waiting = np.concatenate([self.waiting, samples])
        self.arrived.set()

    async def _run(self) -> None:
        try:
            while await self._chunk_ready():
                chunk, self.waiting = self.waiting, np.zeros(0, np.float32)
                self._put(await asyncio.to_thread(self._process, chunk))
            self._put(await asyncio.to_thread(self._finish), last=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("speech recognition failed")
            self.queue.put_nowait(EngineError(f"speech recognition failed: {exc}", permanent=False))
        finally:
            self.queue.put_nowait(None)

    async def _chunk_ready(self) -> bool:
        """Wait for min_chunk of audio; at the end, any audio left is a last chunk."""
        while len(self.waiting) < self.min_samples:
            if self.finishing:
                return len(self.waiting) > 0
            self.arrived.clear()
            await self.arrived.wait()
        return True

    def _process(self, chunk: np.ndarray) -> list[Word]:
        with DECODE_SLOT:
            self.processor.insert_audio_chunk(chunk)
            return self.processor.process_iter()

    def _finish(self) -> list[Word]:
        return self.processor.finish()

    def _put(self, words: list[Word], last: bool = False) -> None:
        for kind, segment, text, start, end in self.captioner.add(words, last):
            self.queue.put_nowait(CaptionResult(kind, segment, text, {}, start, end))

    async def results(self) -> AsyncIterator[EngineResult]:
        while (item := await self.queue.get()) is not None:
            if isinstance(item, EngineError):
                raise item
            yield item

    async def finish(self) -> None:
        """End of audio: decode what is left, then flush the uncommitted words as a final."""
        self.finishing = True
        self.arrived.set()

    async def close(self) -> None:
        self.closed = True
        self.loop.cancel()
        self.queue.put_nowait(None)
