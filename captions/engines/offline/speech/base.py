"""The one small interface every speech-output backend implements."""

from __future__ import annotations

import abc

from ..errors import OfflineEngineError


class SpeechError(OfflineEngineError):
    """A synthesis failure; ``permanent`` says whether retrying can help."""


class Synthesizer(abc.ABC):
    """A synchronous, thread-safe text-to-speech backend for ISO 639-1 languages."""

    name: str = "synthesizer"

    @abc.abstractmethod
    def languages(self) -> frozenset[str]:
        """Return the languages this backend can speak."""

    @abc.abstractmethod
    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return (audio bytes, content type) for ``text`` spoken in ``language``."""

    def check_language(self, language: str) -> None:
        """Raise a permanent SpeechError if this backend cannot speak ``language``."""
        if language not in self.languages():
            raise SpeechError(f"{self.name} has no voice for {language}", permanent=True)
