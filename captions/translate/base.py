"""The interface every translation backend implements, and its error type."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

Pair = tuple[str, str]


class TranslationError(Exception):
    """A translation failed; `permanent` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Translator(Protocol):
    """A synchronous, thread-safe translator between ISO 639-1 language codes."""

    def pairs(self) -> frozenset[Pair]:
        """Return the (source, target) pairs this backend translates, without loading models."""
        ...

    def translate(self, text: str, source: str, target: str) -> str:
        """Return `text` translated from `source` into `target`, or raise TranslationError."""
        ...


def unsupported(source: str, target: str) -> TranslationError:
    """Return the permanent error for a pair that a backend does not offer."""
    return TranslationError(f"no translation from {source!r} into {target!r}", permanent=True)
