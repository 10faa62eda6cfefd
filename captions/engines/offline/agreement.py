"""The stable-prefix policy for partial captions (LocalAgreement-2, as in whisper_streaming).

Whisper re-decodes the whole open utterance for every partial, so its wording can change
between decodes. A word is shown as stable once two consecutive hypotheses agree on it and
on everything before it; stable words never change again until the final, so listeners
see text grow rather than flicker, and only the stable part is translated. Pure logic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NORMALIZE = re.compile(r"[^\w']+")


def _key(word: str) -> str:
    return _NORMALIZE.sub("", word.lower())


@dataclass
class StablePrefix:
    """Tracks the agreed prefix of one utterance's successive hypotheses."""

    stable: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)

    def update(self, hypothesis: str) -> tuple[str, str]:
        """Take a new hypothesis; return (stable text, unstable rest) to display."""
        words = hypothesis.split()
        agreed = _common_prefix(self.previous, words)
        if agreed > len(self.stable) and _agrees(self.stable, words):
            self.stable = words[:agreed]
        self.previous = words
        rest = words[len(self.stable) :] if _agrees(self.stable, words) else []
        return " ".join(self.stable), " ".join(rest)


def _common_prefix(a: list[str], b: list[str]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if _key(left) != _key(right):
            break
        count += 1
    return count


def _agrees(prefix: list[str], words: list[str]) -> bool:
    return _common_prefix(prefix, words) == len(prefix)
