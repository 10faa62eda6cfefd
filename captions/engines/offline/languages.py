"""Language codes inside the offline engine: the one normaliser every backend uses.

Events name languages with BCP 47 tags (``en``, ``pt-BR``, ``zh-Hant``); Whisper, Apertium,
Bergamot, Piper and espeak-ng know base languages (ISO 639-1 where there is one).
"""

from __future__ import annotations


def normalize_language(tag: str) -> str:
    """Return a tag's base language: ``pt-BR`` and ``pt_br`` are ``pt``, ``zh-Hant`` is ``zh``."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


# Codes that name a script of a base language; the engine writes that script (script.py).
SCRIPT_VARIANTS = {"zh": frozenset({"zh-Hans", "zh-Hant"})}


def with_scripts(codes: frozenset[str]) -> frozenset[str]:
    """Return ``codes`` plus the script variants of their base languages (``zh-Hans``...)."""
    variants = (SCRIPT_VARIANTS.get(normalize_language(code), frozenset()) for code in codes)
    return codes.union(*variants)
