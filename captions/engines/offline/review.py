"""A look back at a final once the speech after it is in: its better text, if any. Pure.

Whisper base mishears a short phrase decoded with little around it ("What? Is Z going to be
fixed?" for "When is that going to be fixed?", "the best way it" for "the best one yet",
non-native speakers of tests/corpus/heldout/) and hears it right with the speech before and
after it, as the offline pass of the whole recording does. The streaming policy cannot wait
for that speech before showing the final, so it looks back afterwards: once the next final
is out, the audio of the finals of the last few seconds, this one and the next is decoded
again as one, freely (no forced prefix, the earlier text as prompt), and the words that decode
puts where this final's were replace them.

Which words are this final's comes from aligning the decode with the finals' texts as shown
(word keys, as agreement compares words), not from word timestamps: only changes that lie
inside this final are taken. A word the decode adds at a border between two finals, or drops
there, could belong to either (Whisper moves "we" across a pause as it likes), so such a
change is left alone: no word is lost or shown twice by a look back.

Measured on streamed finals (bench/look_back.py, 2026-12-06): word error rate on the held-out
recordings 9.6 -> 7.7%, on the corpus 7.7 -> 7.4%, on short clips 6.7 -> 6.4%; the second
decode was not right every time ("She tell it" -> "You tell it"), but right far more often.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from ...words import join_words, split_words
from .agreement import word_key


def revision(texts: Sequence[str], index: int, heard: str) -> str | None:
    """The better text of final ``texts[index]``, or None to keep it as it is.

    ``texts``: the finals whose audio was decoded again, in order, as shown; ``heard``: that
    decode's text. The final keeps its own capital and closing punctuation (the decode may
    run its sentence on into the next final's).
    """
    words = [split_words(text) for text in texts]
    shown = [word for text in words for word in text]
    said = split_words(heard)
    if not words[index] or not said:
        return None
    low = sum(len(text) for text in words[:index])
    high = low + len(words[index])
    mine: list[str] = []
    changed = after_change = False
    matcher = SequenceMatcher(
        None, [word_key(w) for w in shown], [word_key(w) for w in said], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        first, last = max(i1, low), min(i2, high)
        if tag == "equal":
            same = shown[first:last]  # as shown ("Middle Ages"), but the word right after a
            if after_change and same:  # change as the decode spells it ("When is", not "Is")
                same[0] = said[j1 + first - i1]
            mine += same
            after_change = False
        elif _inside(tag, i1, i2, low, high) and not _respelled(shown[i1:i2], said[j1:j2]):
            mine += said[j1:j2]
            changed = after_change = True
        else:
            mine += shown[first:last]  # what part of it is this final's: kept as it was
    if not changed or not any(word_key(w) for w in mine):
        return None
    mine[0] = _capital_like(mine[0], words[index][0])
    mine[-1] = _closed_like(mine[-1], words[index][-1])
    return join_words(mine)


def _inside(tag: str, i1: int, i2: int, low: int, high: int) -> bool:
    """Whether a change of shown words ``i1:i2`` belongs to the final holding ``low:high``.

    A replacement may touch its first or last word; an insertion or a deletion there may be
    a word moving across the border, and is left alone.
    """
    if tag == "replace":
        return low <= i1 and i2 <= high
    if tag == "insert":
        return low < i1 < high
    return low < i1 and i2 < high  # delete


def _respelled(old: Sequence[str], new: Sequence[str]) -> bool:
    """Whether ``new`` is ``old`` written otherwise: with other spaces ("lower case",
    "lowercase") or contracted ("you are", "you're"). Such a change is no better text, only
    a caption that moves under its reader."""
    return _spelled_out(old) == _spelled_out(new)


def _spelled_out(words: Sequence[str]) -> str:
    text = " ".join(word_key(w) for w in words)
    for contracted, full in _CONTRACTIONS:
        text = text.replace(contracted, full)
    return text.replace(" ", "")


# English contractions Whisper writes or not as it likes; an ambiguous one ("'s": is, has)
# counts as its most common reading, which only ever keeps a final as it was.
_CONTRACTIONS = (
    ("n't", " not"),
    ("'re", " are"),
    ("'ll", " will"),
    ("'ve", " have"),
    ("'m", " am"),
    ("'d", " would"),
    ("'s", " is"),
)


def _capital_like(word: str, model: str) -> str:
    if model[:1].isupper() and word[:1].islower():
        return word[0].upper() + word[1:]
    return word


def _closed_like(word: str, model: str) -> str:
    """``word`` with the punctuation that closes ``model`` instead of its own."""
    return word.rstrip(_CLOSING) + model[len(model.rstrip(_CLOSING)) :]


_CLOSING = ".,;:!?…。，、！？；：\"'”’)»"
