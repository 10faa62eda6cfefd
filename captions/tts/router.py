"""Choose a speech-output backend per language, the best first."""

from __future__ import annotations

from collections.abc import Sequence

from .base import SynthesisError, Synthesizer


class SynthesizerRouter:
    """Speak each language with the first backend (in priority order) that has a voice for it."""

    def __init__(self, backends: Sequence[Synthesizer]) -> None:
        self.backends = list(backends)

    def languages(self) -> frozenset[str]:
        """Return every language some backend speaks."""
        return frozenset().union(*(backend.languages() for backend in self.backends))

    def backend(self, language: str) -> Synthesizer:
        """Return the backend that speaks `language`, or raise a permanent SynthesisError."""
        for backend in self.backends:
            if language.lower() in backend.languages():
                return backend
        raise SynthesisError(f"no voice for {language!r}", permanent=True)

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return `text` spoken in `language` as audio bytes and their content type."""
        return self.backend(language).synthesize(text, language)
