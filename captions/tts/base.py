"""The interface every speech-output backend implements, and its error type."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

WAV = "audio/wav"


class SynthesisError(Exception):
    """Speech synthesis failed; `permanent` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Synthesizer(Protocol):
    """A synchronous, thread-safe text-to-speech backend."""

    def languages(self) -> frozenset[str]:
        """Return the lower-case language codes (ISO 639-1, some with a region) it speaks."""
        ...

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return the spoken text as audio bytes and their content type."""
        ...
