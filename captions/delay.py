"""Caption delay, as pure logic: when a caption's audio arrived, and percentiles of the delays.

The delay of a final runs from the moment the audio of its last word reached the server (the
engine's ``end``, seconds from the start of the session's audio, mapped to the wall clock by
``StreamClock``) to the moment a listener process hands the final to its listeners. Delays are
counted in fixed buckets, so that every process's counts can be summed (in Redis, per five
seconds: captions/delay_report.py) and percentiles read from the sum. No I/O here.
"""

from __future__ import annotations

import bisect
import collections
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

WARN_SECONDS = 3.0  # a caption later than this is late (the presenter page colours it red)
SLOT_SECONDS = 5  # delays are summed across processes per slot of this many seconds
WINDOW_SLOTS = 12  # the presenter and the console see the last minute
# Upper bounds of the buckets, in seconds: 0.1 s steps up to 5 s, coarser beyond; one more
# bucket holds everything over the last bound.
BOUNDS: tuple[float, ...] = (
    *(round(0.1 * step, 1) for step in range(1, 51)),
    6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip
OVER = len(BOUNDS)  # the bucket index of delays beyond the last bound
MAX_CLOCK_MESSAGE = 128  # characters of a listener's clock ping


class StreamClock:
    """When each part of one engine session's audio arrived, by stream time, for a while.

    ``add`` is called for every audio frame as it arrives; ``arrival`` answers for any stream
    time among the last ``keep`` frames (10 minutes of the browser's 100 ms frames).
    """

    def __init__(self, keep: int = 6_000) -> None:
        self.position = 0.0  # seconds of audio received so far
        self._ends: collections.deque[float] = collections.deque(maxlen=keep)
        self._arrivals: collections.deque[float] = collections.deque(maxlen=keep)
        self._forgotten_until = 0.0

    def add(self, seconds: float, arrival: float) -> None:
        """Called when ``seconds`` of audio arrive at wall-clock time ``arrival`` (epoch s)."""
        if len(self._ends) == self._ends.maxlen:
            self._forgotten_until = self._ends[0]
        self.position += seconds
        self._ends.append(self.position)
        self._arrivals.append(arrival)

    def arrival(self, stream_time: float) -> float | None:
        """When the audio up to ``stream_time`` had arrived; None if forgotten or never heard."""
        if not self._ends or stream_time < self._forgotten_until:
            return None
        index = bisect.bisect_left(self._ends, stream_time - 1e-6)
        if index < len(self._ends):
            return self._arrivals[index]
        # An engine may round its times up a little: not past the last frame by much.
        return self._arrivals[-1] if stream_time - self.position < 0.5 else None


def bucket(seconds: float) -> int:
    """The index of the bucket that counts a delay of ``seconds``."""
    return bisect.bisect_left(BOUNDS, max(seconds, 0.0))


def percentile(counts: Mapping[int, int], fraction: float) -> float | None:
    """The ``fraction`` quantile of bucketed delays, interpolated within its bucket."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for index in sorted(counts):
        n = counts[index]
        if n > 0 and seen + n >= rank:
            low = BOUNDS[index - 1] if index > 0 else 0.0
            high = BOUNDS[index] if index < OVER else low
            return low + (high - low) * max(rank - seen, 0) / n
        seen += n
    return BOUNDS[-1]


def summarize(counts: Mapping[str, Mapping[int, int]]) -> dict[str, dict[str, Any]]:
    """Per language: p50 and p95 in seconds (two decimals) and how many finals they cover."""
    summary = {}
    for language in sorted(counts):
        buckets = counts[language]
        total = sum(buckets.values())
        if total > 0:
            summary[language] = {
                "p50": round(percentile(buckets, 0.50) or 0.0, 2),
                "p95": round(percentile(buckets, 0.95) or 0.0, 2),
                "count": total,
            }
    return summary


def field(language: str, index: int) -> str:
    """The Redis hash field that counts ``language``'s delays in bucket ``index``."""
    return f"{language}:{index}"


def merge_fields(hashes: Iterable[Mapping[str, str]]) -> dict[str, collections.Counter[int]]:
    """Sum hashes of ``field`` → count into counts per language and bucket; junk is skipped."""
    counts: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    for fields in hashes:
        for name, value in fields.items():
            language, _, index = name.rpartition(":")
            if language and index.isdigit() and str(value).isdigit() and int(index) <= OVER:
                counts[language][int(index)] += int(value)
    return dict(counts)


def slot(epoch_seconds: float) -> int:
    """The slot a moment belongs to."""
    return int(epoch_seconds // SLOT_SECONDS)


def window(epoch_seconds: float) -> range:
    """The slots of the last minute, the current one included."""
    current = slot(epoch_seconds)
    return range(current - WINDOW_SLOTS + 1, current + 1)


def heard_of(text: str) -> int | None:
    """The ``heard`` stamp (epoch ms) of a caption message's JSON text, if it carries one."""
    if '"heard":' not in text:
        return None
    heard = json.loads(text).get("heard")
    return heard if isinstance(heard, int) and not isinstance(heard, bool) else None


def with_sent(text: str, sent_ms: int) -> str:
    """The caption message's JSON text with a ``sent`` stamp added, without parsing it again."""
    return f'{text[:-1]},"sent":{sent_ms}}}'


def clock_reply(text: str | None, server_ms: int) -> dict[str, Any] | None:
    """The answer to a listener's clock ping ``{"type":"clock","t":<its ms>}``; None if not one."""
    if not text or len(text) > MAX_CLOCK_MESSAGE:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("type") != "clock" or len(message) != 2:
        return None
    sent = message.get("t")
    if isinstance(sent, bool) or not isinstance(sent, int | float):
        return None
    if not math.isfinite(sent) or not 0 <= sent < 1e14:
        return None
    return {"type": "clock", "t": sent, "server": server_ms}
