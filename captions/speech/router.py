"""Choose a speech backend per language: the first (most natural) that has a voice."""

from __future__ import annotations

from collections.abc import Sequence

from .base import SpeechError, Synthesizer


class SpeechRouter(Synthesizer):
    """The process-wide synthesizer: each language goes to the first backend that speaks it."""

    name = "speech"

    def __init__(self, backends: Sequence[Synthesizer]) -> None:
        self.backends = tuple(backends)
        self._chosen: dict[str, Synthesizer] = {}
        for backend in self.backends:
            for language in backend.languages():
                self._chosen.setdefault(language, backend)

    def languages(self) -> frozenset[str]:
        """Return every language some backend speaks."""
        return frozenset(self._chosen)

    def backend_for(self, language: str) -> Synthesizer:
        """Return the backend that speaks ``language``; raise a permanent SpeechError if none."""
        if language not in self._chosen:
            raise SpeechError(f"No voice for {language}", permanent=True)
        return self._chosen[language]

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return (audio bytes, content type) from the language's backend."""
        return self.backend_for(language).synthesize(text, language)
