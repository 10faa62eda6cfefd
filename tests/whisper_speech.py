"""Test speech made in the test run: Piper (English) or espeak-ng, converted by sox to 16 kHz."""

from __future__ import annotations

import hashlib
import subprocess
import wave
from pathlib import Path

from django.conf import settings

FIXTURES = Path(settings.VAR_DIR) / "test-fixtures"


def speech_wav(text: str, language: str = "en", *, pad: tuple[float, float] = (0.5, 1.5)) -> Path:
    """A 16 kHz mono PCM16 WAV of ``text`` with silence around it, cached by content."""
    name = hashlib.sha1(f"{language}|{text}|{pad}".encode()).hexdigest()[:16]
    target = FIXTURES / f"{language}-{name}.wav"
    if target.exists():
        return target
    FIXTURES.mkdir(parents=True, exist_ok=True)
    raw = target.with_suffix(".raw.wav")
    raw.write_bytes(_synthesize(text, language))
    subprocess.run(
        ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(target), "pad", *map(str, pad)],
        check=True,
    )
    raw.unlink()
    return target


def _synthesize(text: str, language: str) -> bytes:
    if language == "en":
        from captions.engines.offline.speech import get_synthesizer

        return get_synthesizer().synthesize(text, "en")[0]  # Piper's natural voice
    voice = {"es": "es", "fr": "fr-fr", "pt": "pt-br", "de": "de"}.get(language, language)
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "140", "--stdout", text], check=True, capture_output=True
    ).stdout


def noise_wav(kind: str = "whitenoise", seconds: float = 4.0, volume: float = 0.3) -> Path:
    """Noise only: no speech in it."""
    target = FIXTURES / f"{kind}-{seconds}-{volume}.wav"
    if not target.exists():
        FIXTURES.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "sox",
                "-n",
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                str(target),
                "synth",
                str(seconds),
                kind,
                "vol",
                str(volume),
            ],
            check=True,
        )
    return target


def pcm(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())
