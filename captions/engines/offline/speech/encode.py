"""Optional compression of WAV speech with ffmpeg: MP3 or Ogg Opus, about ten times smaller."""

from __future__ import annotations

import shutil
import subprocess

from .base import SpeechError
from .wav import CONTENT_TYPE as WAV

TIMEOUT_SECONDS = 20.0
# Output arguments per format: mono speech at a low bit rate.
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wav": (WAV, ()),
    "mp3": ("audio/mpeg", ("-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3")),
    "ogg": ("audio/ogg", ("-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg")),
}


def check_format(audio_format: str) -> str:
    """Return ``audio_format`` if known; raise ValueError naming the choices otherwise."""
    if audio_format not in FORMATS:
        raise ValueError(f"Unknown speech format {audio_format!r}; choose one of {sorted(FORMATS)}")
    return audio_format


def ffmpeg_available() -> bool:
    """Return whether the ffmpeg command is installed."""
    return shutil.which("ffmpeg") is not None


def encode(wav: bytes, audio_format: str) -> tuple[bytes, str]:
    """Return (audio, content type) of a WAV converted to ``audio_format`` with ffmpeg."""
    content_type, arguments = FORMATS[check_format(audio_format)]
    if not arguments:
        return wav, content_type
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "-", *arguments, "-"]
    try:
        done = subprocess.run(
            argv, input=wav, capture_output=True, check=True, timeout=TIMEOUT_SECONDS
        )
    except (OSError, subprocess.SubprocessError) as exc:
        message = f"ffmpeg could not encode {audio_format}: {exc}"
        raise SpeechError(message, permanent=False) from exc
    return done.stdout, content_type
