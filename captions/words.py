"""The words of a text, in any script, and how words join again into text. Pure.

The offline engine's streaming policy works on words: two hypotheses agree word by word, a
final is whole words, a decode caught in a loop is cut at a word; subtitle lines break
between words. Chinese and Japanese are written without spaces, so splitting Whisper's text
at spaces gives a whole clause as one "word": partials then never agree on anything before
the clause is complete, and flicker until it is (tests/corpus/heldout/, 2026-12-05). Here
each Han or kana character is a word of its own, with the punctuation around it, and two
such words join without a space between them. Other scripts split at spaces as before.
(Thai, Lao and Burmese, also unspaced, are not split: their characters are not words, and a
vowel sign cannot stand alone.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Han (with the iteration mark 々), hiragana and katakana (with the prolonged sound mark).
UNSPACED = "[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
# One unspaced character with the punctuation before and after it ("「我", "中，"), or a run
# of anything else up to the next such character ("Python" in "用Python写").
_PIECE = re.compile(rf"[^\w\s]*{UNSPACED}[^\w\s]*|(?:(?!{UNSPACED})\S)+")
_HAS_UNSPACED = re.compile(UNSPACED)


def split_words(text: str) -> list[str]:
    """The words of ``text``: its space-separated words, Chinese and Japanese ones split
    into characters."""
    if not has_unspaced(text):
        return text.split()  # the common case, and the one that must not change
    return _PIECE.findall(text)


def join_words(words: Iterable[str]) -> str:
    """``words`` (or texts) as one text: a space between two words unless both are Chinese
    or Japanese."""
    pieces = [piece for word in words for piece in split_words(word)]
    text = pieces[0] if pieces else ""
    for before, piece in zip(pieces, pieces[1:], strict=False):
        text += piece if has_unspaced(before) and has_unspaced(piece) else " " + piece
    return text


def has_unspaced(text: str) -> bool:
    """Whether ``text`` holds Chinese or Japanese characters."""
    return bool(_HAS_UNSPACED.search(text))
