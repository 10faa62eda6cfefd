"""One Whisper decode of an utterance, with the filters that keep hallucinations out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .languages import normalize_language
from .script import to_script

# Whisper's well-known inventions on silence, noise and music (its training data's credits).
HALLUCINATIONS = {
    "thank you",
    "thank you.",
    "thanks for watching",
    "thanks for watching!",
    "thank you for watching",
    "thank you for watching.",
    "you",
    "bye",
    "bye.",
    "subtitles by the amara.org community",
    "please subscribe",
    ".",
    "...",
    "sous-titres réalisés par la communauté d'amara.org",
    "gracias.",
    "¡gracias!",
    "продолжение следует...",
    "ご視聴ありがとうございました",
}
MAX_NO_SPEECH = 0.6
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode: beam width, task, language, and the glossary's bias."""

    language: str  # the event's code (zh-Hant): Whisper hears its base, the text is in its script
    beam_size: int = 1
    task: str = "transcribe"  # or "translate" (into English)
    hotwords: str | None = None


def decode(model, audio: np.ndarray, options: DecodeOptions) -> str:
    """Decode one utterance; return its text, or "" if it is most likely not speech."""
    segments, _ = model.transcribe(
        audio,
        language=normalize_language(options.language),
        task=options.task,
        beam_size=options.beam_size,
        best_of=1,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=True,
        vad_filter=False,
        hotwords=options.hotwords,
    )
    texts = [s.text.strip() for s in segments if _is_speech(s)]
    text = " ".join(t for t in texts if t)
    if text.lower().strip() in HALLUCINATIONS:
        return ""
    return to_script(text, options.language) if options.task == "transcribe" else text


def _is_speech(segment) -> bool:
    if segment.no_speech_prob > MAX_NO_SPEECH and segment.avg_logprob < MIN_AVG_LOGPROB:
        return False
    return segment.compression_ratio <= MAX_COMPRESSION_RATIO
