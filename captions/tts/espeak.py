"""Speech output through espeak-ng: about a hundred languages, robotic, a few ms a sentence."""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import cached_property

from .base import WAV, SynthesisError
from .wav import pcm_to_wav, repair

logger = logging.getLogger(__name__)

TIMEOUT = 20.0
RATE = 22050  # espeak-ng's output rate
# The app's `pt` is Brazilian Portuguese (the Bergamot model's); `en` reads best as US English.
PREFERRED = {"pt": "pt-br", "en": "en-us", "zh": "cmn"}


def parse_voices(listing: str) -> dict[str, str]:
    """Map language codes to voices from `espeak-ng --voices`, aliases included."""
    voices: dict[str, str] = {}
    aliases: list[tuple[int, str, str]] = []
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        language = fields[1].lower()
        voices.setdefault(language, language)
        for alias in line.split(fields[4], 1)[1].split(")"):
            parts = alias.strip(" (").split()
            if len(parts) == 2 and parts[1].isdigit():
                aliases.append((int(parts[1]), parts[0].lower(), language))
    for _, alias, language in sorted(aliases):
        voices.setdefault(alias, language)
    voices.setdefault("en", "en-us")
    return _with_base_codes(voices)


def _with_base_codes(voices: dict[str, str]) -> dict[str, str]:
    for language in sorted(voices):
        voices.setdefault(language.split("-")[0], voices[language])
    for code, voice in PREFERRED.items():
        if voice in voices:
            voices[code] = voices[voice]
    return voices


def command(voice: str) -> list[str]:
    """Return the espeak-ng command that reads text on stdin and writes WAV to stdout."""
    return ["espeak-ng", "-v", voice, "--stdout", "-b", "1"]


class EspeakSynthesizer:
    """Speak with espeak-ng's voices, listed once per process."""

    @cached_property
    def _voices(self) -> dict[str, str]:
        if not shutil.which("espeak-ng"):
            return {}
        listing = subprocess.run(
            ["espeak-ng", "--voices"], capture_output=True, text=True, check=True
        ).stdout
        return parse_voices(listing)

    def languages(self) -> frozenset[str]:
        """Return every language code with a voice."""
        return frozenset(self._voices)

    def synthesize(self, text: str, language: str) -> tuple[bytes, str]:
        """Return `text` spoken by the language's voice, as WAV."""
        voice = self._voices.get(language.lower())
        if voice is None:
            raise SynthesisError(f"espeak-ng has no voice for {language!r}", permanent=True)
        if not text.strip():
            return pcm_to_wav(b"", RATE), WAV
        try:
            result = subprocess.run(
                command(voice), input=text.encode(), capture_output=True, timeout=TIMEOUT
            )
        except subprocess.TimeoutExpired as error:
            raise SynthesisError("espeak-ng timed out", permanent=False) from error
        if result.returncode != 0:
            message = f"espeak-ng failed: {result.stderr.decode(errors='replace')[:200]}"
            raise SynthesisError(message, permanent=False)
        try:
            return repair(result.stdout), WAV
        except ValueError as error:
            raise SynthesisError(f"espeak-ng wrote no WAV: {error}", permanent=False) from error
