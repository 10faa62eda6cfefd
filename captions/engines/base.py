"""The one small interface every speech-translation engine implements.

An engine is created once per process (it may hold a loaded model) and opens
one streaming session per presenter. A session takes 16 kHz mono PCM16 audio
and yields typed results: partial and final captions, synthesized speech and
status notices. Engines are chosen by dotted path in settings, the way
Channels chooses its layer (see ``captions.engines.get_engine``).
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes per sample: PCM16 little-endian, mono


class EngineError(Exception):
    """An engine failure; ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SessionConfig:
    """What a presenter's stream needs: languages, glossary and options."""

    source_language: str
    target_languages: tuple[str, ...]
    # Names and terms that recognition should get right (hotwords, phrase list).
    phrases: tuple[str, ...] = ()
    # Per term, how to render it in each target language: {"Contoso": {"es": "Contoso"}}.
    # A term without a rendering for a language passes through translation unchanged.
    glossary: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    profanity: str = "masked"  # masked | removed | raw
    # Languages for which synthesized speech of finals is wanted (those with a listener
    # who turned listening on). Sessions may be told of changes with set_speech_languages.
    speech_languages: frozenset[str] = frozenset()


class ResultKind(enum.Enum):
    PARTIAL = "partial"
    FINAL = "final"
    # A better text for a final already yielded (same ``segment_id``): the engine looked again
    # once the speech after it was in. Stored and sent as a correction of that final.
    REVISION = "revision"


@dataclass(frozen=True)
class CaptionResult:
    """A partial or final caption for one utterance, in the source and each target language.

    ``segment_id`` is stable across the partials and the final of one utterance and
    unique within a session. Offsets are seconds from the start of the session's audio.
    """

    kind: ResultKind
    segment_id: str
    source_text: str
    translations: Mapping[str, str]
    start: float
    end: float

    @property
    def is_final(self) -> bool:
        return self.kind is ResultKind.FINAL

    @property
    def is_revision(self) -> bool:
        return self.kind is ResultKind.REVISION


@dataclass(frozen=True)
class SpeechResult:
    """Synthesized speech of one final caption in one language."""

    segment_id: str
    language: str
    audio: bytes
    content_type: str  # e.g. "audio/wav", "audio/ogg", "audio/mpeg"


class NoticeKind(enum.Enum):
    OVERLOADED = "overloaded"  # decoding fell behind real time; partials are being dropped
    RECOVERED = "recovered"  # back to real time
    RECONNECTING = "reconnecting"  # a remote engine lost its connection and is retrying


@dataclass(frozen=True)
class EngineNotice:
    """A status change the presenter should see."""

    kind: NoticeKind
    detail: str = ""


EngineResult = CaptionResult | SpeechResult | EngineNotice


@dataclass(frozen=True)
class LanguageSupport:
    """Which source languages an engine hears and which targets it serves from each."""

    sources: Mapping[str, frozenset[str]]  # source code -> target codes
    speech: frozenset[str] = frozenset()  # languages it can speak

    def targets_for(self, source: str) -> frozenset[str]:
        return self.sources.get(source, frozenset())


class EngineSession(abc.ABC):
    """One presenter's audio stream through an engine."""

    @abc.abstractmethod
    async def send_audio(self, pcm: bytes) -> None:
        """Called for every audio frame (PCM16, 16 kHz, mono). Must not block on inference."""

    @abc.abstractmethod
    def results(self) -> AsyncIterator[EngineResult]:
        """Yield results until the session ends; raise EngineError on failure."""

    @abc.abstractmethod
    async def finish(self) -> None:
        """End of audio: finalize what was heard; ``results()`` ends after the last final."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Abort at once, releasing resources. Safe to call more than once."""

    async def set_speech_languages(self, languages: frozenset[str]) -> None:  # noqa: B027
        """Called when the set of languages with listening listeners changes (optional)."""

    async def update_glossary(
        self, phrases: tuple[str, ...], glossary: Mapping[str, Mapping[str, str]]
    ) -> None:
        """Called when the organizer's glossary changes mid-talk; applies to what follows.

        The default replaces ``self.config``: enough for a session that reads its config on
        every decode and translation. A session that hands phrases to a remote service once
        at connection time overrides this (or leaves the change for its next session).
        """
        config = getattr(self, "config", None)
        if isinstance(config, SessionConfig):
            self.config = dataclasses.replace(config, phrases=phrases, glossary=glossary)


class Engine(abc.ABC):
    """A speech-translation backend, created once per process."""

    name: str = "engine"

    @abc.abstractmethod
    def language_support(self) -> LanguageSupport:
        """The source and target languages this engine can serve."""

    @abc.abstractmethod
    async def start_session(self, config: SessionConfig) -> EngineSession:
        """Open a streaming session; raise EngineError if it cannot start."""

    async def prepare(self, config: SessionConfig) -> None:
        """Load what a session for ``config`` will need, before it is asked for.

        Called when a presenter's page connects, so that its "start" finds the models loaded:
        on a fresh server the first start would otherwise take seconds, and the presenter's
        first words would wait in the page for them. Safe to call any number of times, also
        while a session starts. A failure is raised for the caller to log: ``start_session``
        meets it again and reports it to the presenter. The default prepares nothing.
        """
        return None

    async def translate_text(self, text: str, config: SessionConfig) -> dict[str, str]:
        """Translate a corrected final into the targets this engine translates text into.

        The default translates nothing: captions.corrections then uses the local text
        translators where they serve the pair, and keeps the old translation elsewhere.
        """
        return {}
