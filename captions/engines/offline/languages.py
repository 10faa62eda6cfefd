"""Language codes inside the offline engine: the one normaliser every backend uses.

Events name languages with BCP 47 tags (``en``, ``pt-BR``, ``zh-Hant``); Whisper, Apertium,
Bergamot, Piper and espeak-ng know base languages (ISO 639-1 where there is one).
"""

from __future__ import annotations


def normalize_language(tag: str) -> str:
    """Return a tag's base language: ``pt-BR`` and ``pt_br`` are ``pt``, ``zh-Hant`` is ``zh``."""
    return tag.strip().replace("_", "-").split("-")[0].lower()
