"""What the streaming policy asks of its session, and what it shows: its actions. Pure data.

The policy (policy.py) does no I/O: each input it is fed returns a list of these, and the
session (session.py) carries them out (runs a decode in a worker thread, sends a caption)
and feeds back the answers (``StreamingPolicy.decoded``, ``StreamingPolicy.reviewed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Decode:
    """Decode ``audio``; the text returned must be only what follows ``prefix``.

    A final decode waits for the decoder; a partial one is given up if the decoder is busy
    (the session then answers ``decoded(id, None)``).
    """

    id: int
    audio: np.ndarray = field(repr=False)
    end: int  # stream sample where ``audio`` ends
    fresh: int  # samples at the end of ``audio`` that the prefix does not cover (its own)
    prefix: str
    prompt: str
    beam: int
    final: bool
    window: float = 30.0  # the decoder's encoder window, at least: shorter is faster


@dataclass(frozen=True)
class Cancel:
    """Decode ``id`` is stale: skip it if it has not started (its answer is ignored anyway)."""

    id: int


@dataclass(frozen=True)
class Partial:
    segment_id: str
    stable: str  # agreed words: safe to translate
    text: str  # stable words and the newest guess after them
    start: float  # seconds of stream time
    end: float


@dataclass(frozen=True)
class Final:
    segment_id: str
    text: str  # "" withdraws the segment's partials
    start: float
    end: float  # end of the last voiced frame: where the last word's audio ended
    audio: np.ndarray | None = field(default=None, repr=False, compare=False)  # its own audio


@dataclass(frozen=True)
class Review:
    """Look back at the final ``segment_id`` now that the speech after it is in (review.py).

    ``audio`` holds the finals ``texts`` (as shown, in order: the ones of the seconds before,
    this one at ``index``, and the next), decoded again as one, freely: no forced prefix,
    ``prompt`` as the text before. The session decodes it, keeps what ``review.revision``
    takes for ``texts[index]`` and answers ``reviewed(id, text)``. It runs beside the live
    decodes, on a model at idle priority; it is given up (answered None) if another
    presenter's look back is running.
    """

    id: int
    segment_id: str
    audio: np.ndarray = field(repr=False)
    texts: tuple[str, ...]
    index: int
    prompt: str
    beam: int
    window: float


@dataclass(frozen=True)
class Revision:
    """A better text for the final ``segment_id``, already emitted."""

    segment_id: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Behind:
    """The decoder cannot keep up (``True``), or caught up again (``False``)."""

    behind: bool


@dataclass(frozen=True)
class Done:
    """After finish(): every final is out."""


Action = Decode | Cancel | Partial | Final | Review | Revision | Behind | Done
