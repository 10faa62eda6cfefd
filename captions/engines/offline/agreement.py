"""LocalAgreement-2, the commit rule of whisper_streaming. Pure logic.

Each partial decode continues after the words already agreed (they are forced as the
decoder's prefix), so a hypothesis here is only the words after them. A word becomes
stable once two consecutive hypotheses agree on it and on every word before it; stable
words never change again, so listeners see text grow instead of flicker, and only they are
translated. Agreement ignores case and punctuation; the newer spelling is kept.

One departure from whisper_streaming: the newest hypothesis's last word stays a guess even
when agreed. It was decoded at the audio's end, where Whisper closes the sentence whether
or not the speaker did ("the earliest book." at a breath), and a stable word's spelling is
forced into every later decode: the full stop would end the caption there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NOT_WORD = re.compile(r"[^\w']+")


def word_key(word: str) -> str:
    """A word as agreement compares it: lower case, no punctuation."""
    return _NOT_WORD.sub("", word.lower())


@dataclass
class LocalAgreement:
    """The agreed words of one utterance, and the newest guess after them."""

    stable: list[str] = field(default_factory=list)
    guess: list[str] = field(default_factory=list)

    def update(self, continuation: list[str]) -> None:
        """Take a hypothesis of the words after ``stable``; commit what it shares with the last
        (all but its own last word)."""
        agreed = max(0, min(common_prefix(self.guess, continuation), len(continuation) - 1))
        self.stable += continuation[:agreed]
        self.guess = continuation[agreed:]

    def take(self, count: int) -> list[str]:
        """Remove and return the first ``count`` stable words (they became a final)."""
        taken, self.stable = self.stable[:count], self.stable[count:]
        return taken


def common_prefix(a: list[str], b: list[str]) -> int:
    """How many leading words ``a`` and ``b`` share, ignoring case and punctuation."""
    count = 0
    for left, right in zip(a, b, strict=False):
        if word_key(left) != word_key(right):
            break
        count += 1
    return count


def shown_guess(agreement: LocalAgreement) -> list[str]:
    """The guessed words worth showing: all but the last, cut off mid-word by the audio's end.

    Partials are decoded while the speaker speaks, so the last word of a hypothesis is often
    a fragment ("compli-"): showing it makes the text flicker. Until the first word is agreed
    the whole guess shows, so text appears as soon as anything is heard.
    """
    guess = agreement.guess
    return guess if not agreement.stable else guess[:-1]
