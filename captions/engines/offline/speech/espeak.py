"""espeak-ng (from Debian): robotic but fast, about a hundred languages."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable

from ..languages import normalize_language
from .base import SpeechError, Synthesizer
from .wav import CONTENT_TYPE, pcm_to_wav, streamed_wav_to_pcm

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 20.0
# The app's language codes name one variety; pick espeak's voice for it.
PREFERRED_VOICES = {"en": "en-us", "pt": "pt-br", "fr": "fr-fr", "zh": "cmn", "es": "es"}


def parse_voices(listing: str) -> list[str]:
    """Return the voice names in ``espeak-ng --voices`` output."""
    lines = listing.splitlines()[1:]
    return [line.split()[1] for line in lines if len(line.split()) > 1]


def voice_map(voices: Iterable[str]) -> dict[str, str]:
    """Map each ISO 639-1 code (two letters) to the espeak voice that speaks it."""
    voices = list(voices)
    mapping: dict[str, str] = {}
    for voice in voices:
        language = normalize_language(voice)
        if len(language) == 2:
            mapping.setdefault(language, language if language in voices else voice)
    for language, voice in PREFERRED_VOICES.items():
        if voice in voices:
            mapping[language] = voice
    return mapping


def list_voices(binary: str = "espeak-ng") -> list[str]:
    """Ask espeak-ng which voices are installed."""
    listing = subprocess.run(
        [binary, "--voices"], capture_output=True, text=True, check=True, timeout=TIMEOUT_SECONDS
    ).stdout
    return parse_voices(listing)


class EspeakSynthesizer(Synthesizer):
    """Speak with the ``espeak-ng`` command; its voices are listed once."""

    name = "espeak-ng"

    def __init__(self, binary: str = "espeak-ng") -> None:
        self._binary = shutil.which(binary)
        self._voices = voice_map(list_voices(self._binary)) if self._binary else {}

    def languages(self) -> frozenset[str]:
        """Return the languages with an espeak-ng voice."""
        return frozenset(self._voices)

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return a 16-bit mono WAV (22.05 kHz) of ``text``."""
        self.check_language(language)
        assert self._binary is not None
        # Text goes through stdin so that a caption starting with "-" is not an option.
        argv = [self._binary, "-v", self._voices[language], "-b", "1", "--stdout"]
        try:
            done = subprocess.run(
                argv, input=text.encode(), capture_output=True, check=True, timeout=TIMEOUT_SECONDS
            )
            pcm, rate = streamed_wav_to_pcm(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise SpeechError(f"espeak-ng failed: {exc}", permanent=False) from exc
        return pcm_to_wav(pcm, rate), CONTENT_TYPE
