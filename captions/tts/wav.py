"""WAV bytes (16-bit PCM) built and repaired without I/O."""

from __future__ import annotations

import io
import struct
import wave


def pcm_to_wav(pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> bytes:
    """Wrap raw little-endian PCM samples in a WAV header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(pcm[: len(pcm) - len(pcm) % (channels * width)])
    return buffer.getvalue()


def repair(data: bytes) -> bytes:
    """Rewrite a streamed WAV whose header has placeholder sizes (espeak-ng's --stdout)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    position, fmt = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        if chunk == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, position + 8)
        elif chunk == b"data":
            if fmt is None:
                break
            # The size may be a placeholder: the samples run to the end of the stream.
            _, channels, rate, _, _, bits = fmt
            return pcm_to_wav(data[position + 8 :], rate, channels, bits // 8)
        position += 8 + size + size % 2
    raise ValueError("WAV stream without format or data")


def duration(data: bytes) -> float:
    """Return the length of WAV audio in seconds."""
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getnframes() / audio.getframerate()
