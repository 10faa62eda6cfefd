"""Chinese in the script its language code asks for, through OpenCC.

Whisper knows one Chinese, ``zh``, and often writes it in traditional characters; an event's
``zh`` or ``zh-Hans`` means simplified, ``zh-Hant`` (and ``zh-TW``, ``zh-HK``, ``zh-MO``)
traditional. Other languages pass through untouched.
"""

from __future__ import annotations

import functools
import logging

from .languages import normalize_language

logger = logging.getLogger(__name__)

TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


def conversion(language_code: str) -> str | None:
    """Return the OpenCC conversion for a language code: ``t2s``, ``s2t``, or None."""
    if normalize_language(language_code) != "zh":
        return None
    subtags = language_code.strip().replace("_", "-").lower().split("-")[1:]
    if "hans" in subtags:  # an explicit script wins over the region
        return "t2s"
    traditional = "hant" in subtags or not TRADITIONAL_REGIONS.isdisjoint(subtags)
    return "s2t" if traditional else "t2s"


def to_script(text: str, language_code: str) -> str:
    """Return ``text`` in the script ``language_code`` asks for (only Chinese changes)."""
    name = conversion(language_code)
    if not text or name is None:
        return text
    converter = _converter(name)
    return converter.convert(text) if converter is not None else text


@functools.cache
def _converter(name: str):
    """One OpenCC converter per conversion and process (loading one takes a few ms)."""
    try:
        import opencc
    except ImportError:
        logger.warning("opencc is not installed: Chinese captions keep Whisper's script")
        return None
    return opencc.OpenCC(f"{name}.json")
