"""The one small interface every translation backend implements."""

from __future__ import annotations

import abc

from ..errors import OfflineEngineError


class TranslationError(OfflineEngineError):
    """A translation failure; ``permanent`` says whether retrying can help."""


class Translator(abc.ABC):
    """A synchronous, thread-safe text translator between ISO 639-1 language codes."""

    name: str = "translator"

    @abc.abstractmethod
    def pairs(self) -> frozenset[tuple[str, str]]:
        """Return the (source, target) pairs this backend translates directly."""

    @abc.abstractmethod
    def translate(self, text: str, source: str, target: str) -> str:
        """Return ``text`` translated; raise TranslationError on failure."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release processes or models; called at shutdown and in tests."""

    def check_pair(self, source: str, target: str) -> None:
        """Raise a permanent TranslationError if this backend lacks the pair."""
        if (source, target) not in self.pairs():
            message = f"{self.name} cannot translate {source}->{target}"
            raise TranslationError(message, permanent=True)
