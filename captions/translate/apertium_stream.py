"""Apertium's stream format for plain text, with no I/O: escape input, clean output."""

from __future__ import annotations

import re

# Characters with a meaning in Apertium's stream format, escaped by a backslash.
_SPECIAL = re.compile(r"([\\^$@/<>\[\]{}*#])")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
# Marks of unknown words (*), generation errors (#) and transfer errors (@) before a word.
_MARK = re.compile(r"(?<![\w\\])[*#@](?=\w)")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?)\]])")
# `apertium-destxt` ends every text with a dot and an empty superblank; so do we.
_END = ".[]"


def encode(text: str) -> bytes:
    """Return one null-terminated unit of Apertium stream for `text`."""
    flat = " ".join(text.replace("\0", " ").split())
    return (_SPECIAL.sub(r"\\\1", flat) + _END).encode() + b"\0"


def decode(stream: bytes) -> str:
    """Return the plain text of one unit of translated stream, without marks."""
    text = stream.rstrip(b"\0").decode(errors="replace")
    text = text.removesuffix("[]").removesuffix(".")
    text = _MARK.sub("", text)
    text = _ESCAPED.sub(r"\1", text)
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))
