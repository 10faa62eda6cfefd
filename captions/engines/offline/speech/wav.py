"""WAV containers for 16-bit mono PCM (pure, no I/O)."""

from __future__ import annotations

import io
import wave

CONTENT_TYPE = "audio/wav"


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap 16-bit little-endian mono PCM in a WAV header with correct sizes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm[: len(pcm) // 2 * 2])
    return buffer.getvalue()


def streamed_wav_to_pcm(data: bytes) -> tuple[bytes, int]:
    """Return (PCM, sample rate) from a WAV written to a pipe, whose header sizes are unknown."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE" or data[36:40] != b"data":
        raise ValueError("not a canonical 44-byte-header WAV stream")
    return data[44:], int.from_bytes(data[24:28], "little")


def duration(wav_bytes: bytes) -> float:
    """Return the length in seconds of a WAV file."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        return wav.getnframes() / wav.getframerate()
