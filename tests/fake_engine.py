"""A deterministic engine for pipeline tests: its "recognition" is derived from the audio.

Every voiced 100 ms frame (RMS above a threshold) adds the next word of a fixed
vocabulary to the open utterance and yields a partial; the first silent frame
after speech yields the final. Translations prefix the language code, so a test
can tell exactly which language a listener received. A clipped frame (RMS at or above
FAILING_RMS) makes the session fail as a cloud engine's dropped connection would. With
``final_hold`` (seconds), each final is yielded that long after the frame that ended it, like
an engine whose decoding takes that long (tests of the caption delay). With ``revise`` (a final's
text -> a better one), such a final is revised right after the next final, as the offline
engine's look back does (engines/offline/review.py).
"""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import AsyncIterator, Mapping

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
    SpeechResult,
)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
VOICED_RMS = 500
FAILING_RMS = 30_000


def tone(seconds: float, amplitude: int = 8000, frequency: float = 220.0) -> bytes:
    """A sine tone as PCM16: "speech" to this engine."""
    count = int(seconds * SAMPLE_RATE)
    samples = array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE))
            for n in range(count)
        ),
    )
    return samples.tobytes()


def clipped(seconds: float) -> bytes:
    """A square wave at full scale: the scripted engine fails on it."""
    return array.array("h", [32767, -32767] * int(seconds * SAMPLE_RATE / 2)).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * SAMPLE_RATE))


def translate(text: str, language: str, glossary: Mapping[str, Mapping[str, str]] = {}) -> str:  # noqa: B006
    """The scripted "translation": the language code first, glossary terms rendered."""
    for term, renderings in glossary.items():
        if renderings.get(language):
            text = text.replace(term, renderings[language])
    return f"[{language}] {text}"


def recognize(word: str, phrases: tuple[str, ...]) -> str:
    """The scripted "recognition" biased by the glossary: a phrase that starts with the same
    three letters as a heard word (case aside) is heard instead of it."""
    for phrase in phrases:
        if phrase[:3].lower() == word[:3]:
            return phrase
    return word


class ScriptedSession(EngineSession):
    """One stream through the scripted engine."""

    def __init__(
        self,
        config: SessionConfig,
        final_hold: float = 0.0,
        revise: Mapping[str, str] = {},  # noqa: B006
    ) -> None:
        self.config = config
        self.final_hold = final_hold
        self.revise = dict(revise)
        self.previous: CaptionResult | None = None  # the last final, until the next one
        self.due: dict[str, float] = {}  # segment id -> loop time its final may be yielded
        self.queue: asyncio.Queue[EngineResult | EngineError | None] = asyncio.Queue()
        self.closed = False
        self.words: list[str] = []
        self.word_count = 0
        self.segment = 0
        self.samples = 0
        self.start = 0.0
        self.speech_languages = set(config.speech_languages)

    async def send_audio(self, pcm: bytes) -> None:
        samples = array.array("h", pcm)
        rms = math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))
        if rms >= FAILING_RMS:
            self.queue.put_nowait(EngineError("scripted failure", permanent=False))
        elif rms >= VOICED_RMS:
            if not self.words:
                self.start = self.samples / SAMPLE_RATE
            self.words.append(WORDS[self.word_count % len(WORDS)])
            self.word_count += 1
            self.samples += len(samples)
            self._emit(ResultKind.PARTIAL)
        else:
            self.samples += len(samples)
            self._finalize()

    def _text(self) -> str:
        """The open utterance's words, as the session's current glossary makes them heard."""
        return " ".join(recognize(word, self.config.phrases) for word in self.words)

    def _emit(self, kind: ResultKind) -> CaptionResult:
        text = self._text()
        result = CaptionResult(
            kind=kind,
            segment_id=f"u{self.segment}",
            source_text=text,
            translations=self._translations(text),
            start=self.start,
            end=self.samples / SAMPLE_RATE,
        )
        self.queue.put_nowait(result)
        return result

    def _translations(self, text: str) -> dict[str, str]:
        glossary = self.config.glossary
        return {lang: translate(text, lang, glossary) for lang in self.config.target_languages}

    def _revise_previous(self) -> None:
        """The final before this one, revised if ``revise`` has a better text for it."""
        earlier = self.previous
        if earlier is not None and earlier.source_text in self.revise:
            text = self.revise[earlier.source_text]
            self.queue.put_nowait(
                CaptionResult(
                    ResultKind.REVISION,
                    earlier.segment_id,
                    text,
                    self._translations(text),
                    earlier.start,
                    earlier.end,
                )
            )

    def _finalize(self) -> None:
        if not self.words:
            return
        self.due[f"u{self.segment}"] = asyncio.get_running_loop().time() + self.final_hold
        final = self._emit(ResultKind.FINAL)
        self._revise_previous()
        self.previous = final
        text = self._text()
        for lang in sorted(self.speech_languages):
            audio = translate(text, lang).encode()
            self.queue.put_nowait(SpeechResult(f"u{self.segment}", lang, audio, "audio/x-test"))
        self.words = []
        self.segment += 1

    async def results(self) -> AsyncIterator[EngineResult]:
        while (result := await self.queue.get()) is not None:
            if isinstance(result, EngineError):
                raise result
            if isinstance(result, CaptionResult) and result.is_final and self.final_hold:
                due = self.due.pop(result.segment_id, 0.0)
                await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
            yield result

    async def finish(self) -> None:
        self._finalize()
        self.queue.put_nowait(None)

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)

    async def set_speech_languages(self, languages: frozenset[str]) -> None:
        self.speech_languages = set(languages)


class ScriptedEngine(Engine):
    """Serves any language pair; refuses to prepare or start for source language "xx"."""

    name = "scripted"

    def __init__(self, final_hold: float = 0.0, **options) -> None:
        self.final_hold = final_hold
        self.revise: dict[str, str] = {}  # a final's text -> its revision (ScriptedSession)
        self.sessions: list[ScriptedSession] = []  # every session started, for tests to inspect
        self.prepared: list[SessionConfig] = []  # every prepare() call's config

    def language_support(self) -> LanguageSupport:
        targets = frozenset({"en", "es", "fr", "de", "pt"})
        return LanguageSupport(sources={lang: targets - {lang} for lang in targets})

    async def translate_text(self, text: str, config: SessionConfig) -> dict[str, str]:
        """Corrections are translated as captions are."""
        return {lang: translate(text, lang, config.glossary) for lang in config.target_languages}

    async def prepare(self, config: SessionConfig) -> None:
        self.prepared.append(config)
        if config.source_language == "xx":  # as a real engine whose model fails to load
            raise EngineError("no such language", permanent=True)

    async def start_session(self, config: SessionConfig) -> EngineSession:
        if config.source_language == "xx":
            raise EngineError("no such language", permanent=True)
        session = ScriptedSession(config, self.final_hold, self.revise)
        self.sessions.append(session)
        return session
