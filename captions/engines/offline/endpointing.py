"""Cutting the audio stream into utterances from per-frame speech probabilities. Pure logic.

A frame is 512 samples (32 ms at 16 kHz), the unit of the Silero voice-activity model.
An utterance starts at the first voiced frame (with a little audio before it, so the first
consonant is not clipped), ends after a pause, and is cut when it grows too long.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

FRAME_SAMPLES = 512
FRAME_SECONDS = FRAME_SAMPLES / 16_000


class Event(enum.Enum):
    STARTED = "started"  # an utterance began at this frame
    ENDED = "ended"  # the utterance ended (pause): finalize it
    CUT = "cut"  # the utterance grew too long: finalize it, the next one starts at once


@dataclass
class Endpointer:
    """Feeds on one speech probability per frame; says where utterances begin and end."""

    threshold: float = 0.5
    end_silence: float = 0.5  # seconds of silence that end an utterance
    max_length: float = 12.0  # seconds
    min_speech: float = 0.15  # shorter voiced bursts (clicks, coughs) are not utterances

    def __post_init__(self) -> None:
        self.in_utterance = False
        self.length = 0.0
        self.voiced = 0.0
        self.silence = 0.0

    def feed(self, probability: float) -> Event | None:
        """Take the next frame's probability; return what happened at this frame, if anything."""
        speech = probability >= self.threshold
        if not self.in_utterance:
            if not speech:
                return None
            self.in_utterance, self.length, self.voiced, self.silence = True, 0.0, 0.0, 0.0
            return self._advance(speech) or Event.STARTED
        return self._advance(speech)

    def _advance(self, speech: bool) -> Event | None:
        self.length += FRAME_SECONDS
        if speech:
            self.voiced += FRAME_SECONDS
            self.silence = 0.0
        else:
            self.silence += FRAME_SECONDS
        if self.silence >= self.end_silence:
            self.in_utterance = False
            return Event.ENDED
        if self.length >= self.max_length:
            self.length, self.voiced, self.silence = 0.0, 0.0, 0.0
            return Event.CUT
        return None

    @property
    def has_speech(self) -> bool:
        """Whether the open utterance holds enough voiced audio to be worth decoding."""
        return self.voiced >= self.min_speech
