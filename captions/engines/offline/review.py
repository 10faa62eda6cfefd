"""A second look at a short final once the speech after it is in: whether to correct it. Pure.

Whisper base often mishears a short phrase between two pauses when it has to decode it with
little around it ("But the one the whole" for "But though on the whole", bench/final_context.py),
and hears it right once it has a few seconds of the speech that follows. The streaming policy
cannot wait for that speech before showing the final, so it looks again afterwards: a short
final's decode scores its words (the decoder's own probabilities, decoder.decode_words), and
only if one of them is doubtful is the final decoded again with a few seconds of the audio
after it. The words the new decode places before the cut (word timestamps) replace the final,
through the same revision path as a moderator's correction (captions/corrections.py).

A second decode is not simply better: on the recorded corpus it was as often worse
("you are too" -> "you are two", "You had put down" -> "Bu Han put down"). So each change is
kept only if the words it takes away held a doubtful one and every word it brings is trusted
(the wrong changes' new words scored 0.05-0.47, the right one's 0.97-0.98); a change that only
removes words must remove doubtful ones only, and words added after the final's last word are
never taken (they are most likely the next utterance's first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ...words import split_words
from .agreement import word_key

DOUBTFUL = 0.5  # a first-decode word scoring below this may be replaced
TRUSTED = 0.6  # a second-decode word must score at least this to replace it


@dataclass(frozen=True)
class TimedWord:
    """One decoded word: its text as written (with its leading space and punctuation), where
    it lies in the decoded audio (seconds from the audio's start), and Whisper's probability."""

    text: str
    start: float
    end: float
    probability: float


def spelled(words: Sequence[TimedWord]) -> list[str]:
    """Decoded words as written words (a token such as "." or "-type" joins the one before)."""
    return split_words("".join(w.text for w in words))


def leading_words(words: Sequence[TimedWord], wanted: Sequence[str]) -> tuple[TimedWord, ...]:
    """The first of ``words`` that spell exactly ``wanted`` (with the punctuation closing
    the last of them), or () if they do not begin with it."""
    for count in range(1, len(words) + 1):
        head = spelled(words[:count])
        if head == list(wanted):
            if count < len(words) and not words[count].text[:1].isspace():
                continue  # the last word goes on ("seven" + "." or "-teen")
            return tuple(words[:count])
        if len(head) > len(wanted):
            break
    return ()


def doubtful(words: Sequence[TimedWord]) -> bool:
    """Whether a final's scored words hold one worth a second decode."""
    return any(w.probability < DOUBTFUL for w in words if word_key(w.text))


def revision(first: Sequence[TimedWord], second: Sequence[TimedWord], cut: float) -> str | None:
    """The final's better text from the second decode, or None to keep it as it is.

    ``first``: the final's words as shown, scored; ``second``: the decode of the final's audio
    and the speech after it, timed from the same start; ``cut``: where the final's audio ends
    (seconds from that start).
    """
    mine = [w for w in second if (w.start + w.end) / 2 < cut]
    old = [w for w in first if word_key(w.text)]
    new = [w for w in mine if word_key(w.text)]
    old_keys, new_keys = [word_key(w.text) for w in old], [word_key(w.text) for w in new]
    if not new_keys or new_keys == old_keys:
        return None
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        taken, brought = old[i1:i2], new[j1:j2]
        if tag == "equal":
            continue
        if any(w.probability < TRUSTED for w in brought):
            return None  # it would bring a word the second decode is not sure of
        if tag == "replace" and not doubtful(taken):
            return None  # it would replace words the first decode was sure of
        if tag == "delete" and any(w.probability >= DOUBTFUL for w in taken):
            return None  # it would drop a word the first decode was sure of
        if tag == "insert" and i1 == len(old):
            # Words after the final's last one are more likely the next utterance's first,
            # placed before the cut by a word time (estimates, least sure at a boundary),
            # than words the first decode missed: they would be shown twice.
            return None
    return "".join(w.text for w in mine).strip()
