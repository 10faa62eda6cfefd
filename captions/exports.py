"""Transcripts of stored finals as plain text, SubRip (SRT) and WebVTT. Pure functions, no I/O."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .words import has_unspaced, join_words, split_words

LINE_LENGTH = 42  # characters per subtitle line, the usual broadcast limit
# ... of Chinese or Japanese, whose characters are twice as wide (Netflix's guides: 16 for
# Chinese, 13 for Japanese; a line of them without spaces would never break otherwise).
UNSPACED_LINE_LENGTH = 16
MIN_CUE_SECONDS = 0.5  # a cue shorter than this cannot be read

# Control characters (C0, DEL, C1) are not text: terminal escapes, NULs. Line breaks and tabs
# go earlier, as whitespace, so no caption can end a cue or start a new one.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# SubRip has no escapes, and players read HTML-like tags (<b>, <font>) and ASS override blocks
# ({\an8}, or any {...} once libass renders it): put look-alikes in place of their brackets.
# "-->" becomes "--›", which no parser takes for a timing line.
SRT_LOOKALIKES = str.maketrans({"<": "‹", ">": "›", "{": "(", "}": ")"})


class Final(Protocol):
    """What a transcript needs of a stored caption (``captions.models.Caption`` fits)."""

    seq: int
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    """One subtitle: an utterance's text and when it is shown, on one event-wide clock."""

    index: int
    start: float
    end: float
    text: str


FORMATS = {
    "txt": ("text/plain; charset=utf-8", "txt"),
    "srt": ("application/x-subrip; charset=utf-8", "srt"),
    "vtt": ("text/vtt; charset=utf-8", "vtt"),
}


def cues(finals: Iterable[Final]) -> list[Cue]:
    """Number the non-empty finals in order and put their times on one rising clock.

    Each engine session counts time from its own start, so after a pause (or a
    presenter reconnecting) times restart near zero; such a session is shifted to
    begin where the previous one ended.
    """
    result: list[Cue] = []
    offset = 0.0
    last_start = last_end = 0.0
    for final in sorted(finals, key=lambda f: f.seq):
        text = " ".join(CONTROL.sub(" ", final.text).split())
        if not text:
            continue
        if final.start + offset < last_start:  # a new session: its clock restarted
            offset = last_end - final.start
        start = max(final.start + offset, last_end if result else 0.0)
        end = max(final.end + offset, start + MIN_CUE_SECONDS)
        result.append(Cue(len(result) + 1, start, end, text))
        last_start, last_end = final.start + offset, end
    return result


def timestamp(seconds: float, *, separator: str) -> str:
    """``HH:MM:SS<separator>mmm``: "," for SRT, "." for WebVTT."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def wrap(text: str, width: int = LINE_LENGTH) -> list[str]:
    """Break a caption into subtitle lines of at most ``width`` characters where possible
    (``UNSPACED_LINE_LENGTH`` for Chinese or Japanese, between any two of their characters)."""
    if not has_unspaced(text):
        lines = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)
        return lines or [""]
    lines, line = [], ""
    for word in split_words(text):
        longer = join_words([line, word])
        if line and len(longer) > UNSPACED_LINE_LENGTH:
            lines.append(line)
            longer = word
        line = longer
    return [*lines, line]


def to_txt(finals: Iterable[Final]) -> str:
    """One paragraph per utterance."""
    return "".join(f"{cue.text}\n\n" for cue in cues(finals))


def srt_escape(text: str) -> str:
    """Caption text that SubRip players show as it is, never as tags or cue syntax."""
    return text.translate(SRT_LOOKALIKES)


def to_srt(finals: Iterable[Final]) -> str:
    """SubRip subtitles."""
    blocks = [
        f"{cue.index}\n"
        f"{timestamp(cue.start, separator=',')} --> {timestamp(cue.end, separator=',')}\n"
        + "\n".join(srt_escape(line) for line in wrap(cue.text))
        + "\n"
        for cue in cues(finals)
    ]
    return "\n".join(blocks)


def vtt_escape(text: str) -> str:
    """Cue text is markup in WebVTT: escape it so captions stay text ("-->" included)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(finals: Iterable[Final]) -> str:
    """WebVTT subtitles, for the HTML <track> element and most players."""
    blocks = [
        f"{cue.index}\n"
        f"{timestamp(cue.start, separator='.')} --> {timestamp(cue.end, separator='.')}\n"
        + "\n".join(vtt_escape(line) for line in wrap(cue.text))
        + "\n"
        for cue in cues(finals)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def render(finals: Sequence[Final], fmt: str) -> str:
    """The transcript in format ``fmt`` ("txt", "srt" or "vtt")."""
    renderers = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt}
    if fmt not in renderers:
        raise ValueError(f"unknown transcript format {fmt!r}")
    return renderers[fmt](finals)


def filename(slug: str, language: str, fmt: str) -> str:
    """The download's file name, e.g. ``h22bqd-es.srt``."""
    return f"{slug}-{language}.{FORMATS[fmt][1]}"
