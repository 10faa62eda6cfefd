"""Speech output for captions: backends behind one interface, and a process-wide router.

from captions.tts import get_synthesizer
audio, content_type = get_synthesizer().synthesize("Hola a todos", "es")  # WAV
"""

from __future__ import annotations

from functools import cache

from .base import SynthesisError, Synthesizer
from .router import SynthesizerRouter

__all__ = [
    "SynthesisError",
    "Synthesizer",
    "SynthesizerRouter",
    "build_backends",
    "get_synthesizer",
]

SETTING = "CAPTION_TTS_BACKENDS"
DEFAULT_BACKENDS = (
    "captions.tts.piper.PiperSynthesizer",
    "captions.tts.espeak.EspeakSynthesizer",
)


def backend_paths() -> list[str]:
    """Return the dotted paths of the backends, best first, from settings or the default."""
    try:
        from django.conf import settings

        paths = getattr(settings, SETTING, None) if settings.configured else None
    except ImportError:
        paths = None
    return list(paths or DEFAULT_BACKENDS)


def build_backends(paths: list[str] | None = None) -> list[Synthesizer]:
    """Instantiate the backends named by dotted paths, best first."""
    from django.utils.module_loading import import_string

    return [import_string(path)() for path in (paths or backend_paths())]


@cache
def get_synthesizer() -> SynthesizerRouter:
    """Return the process-wide synthesizer; voices load on first use."""
    return SynthesizerRouter(build_backends())
