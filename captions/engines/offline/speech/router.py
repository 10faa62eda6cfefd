"""Choose a speech backend per language: the first (most natural) that has a voice."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..languages import normalize_language
from .base import SpeechError, Synthesizer
from .encode import check_format, encode

logger = logging.getLogger(__name__)


class SpeechRouter(Synthesizer):
    """The process-wide synthesizer: each language goes to the first backend that speaks it."""

    name = "speech"

    def __init__(self, backends: Sequence[Synthesizer], audio_format: str = "wav") -> None:
        self.backends = tuple(backends)
        self.audio_format = check_format(audio_format)
        self._chosen: dict[str, Synthesizer] = {}
        for backend in self.backends:
            for language in backend.languages():
                self._chosen.setdefault(language, backend)

    def languages(self) -> frozenset[str]:
        """Return every language some backend speaks."""
        return frozenset(self._chosen)

    def speaks(self, language: str) -> bool:
        """Return whether some backend speaks ``language`` (BCP 47 tags accepted)."""
        return normalize_language(language) in self._chosen

    def backend_for(self, language: str) -> Synthesizer:
        """Return the backend that speaks ``language``; raise a permanent SpeechError if none."""
        language = normalize_language(language)
        if language not in self._chosen:
            raise SpeechError(f"No voice for {language}", permanent=True)
        return self._chosen[language]

    def warm_up(self, languages: Iterable[str]) -> None:
        """Load the voices for these languages (Piper takes a second); call it off the loop."""
        for language in languages:
            if self.speaks(language):
                self.backend_for(language).synthesize(".", normalize_language(language))

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return (audio bytes, content type) from the language's backend, compressed if asked."""
        base = normalize_language(language)
        wav, content_type = self.backend_for(base).synthesize(text, base)
        if self.audio_format == "wav":
            return wav, content_type
        try:
            return encode(wav, self.audio_format)
        except SpeechError as exc:
            logger.warning("Sending WAV instead: %s", exc)
            return wav, content_type
