"""Where a sentence ends in decoded text: the policy emits a final there. Pure."""

from __future__ import annotations

import re

# A sentence's closing punctuation; not an ellipsis, Whisper's mark of speech that trails off.
CLOSERS = "'\"»”)"  # quotes and brackets that may follow a sentence's punctuation
SENTENCE_END = re.compile(rf"(?<!\.\.)[.!?。！？][{re.escape(CLOSERS)}]*$")
# Words whose full stop ends no sentence: titles ("Dr." / "Smith") and "etc.", which Whisper
# writes mid-sentence too ("missals, psalters, etc. produced by printing": agreed as a sentence
# end, that cut a final in two and kept it back for the next word, bench/engine.py 2026-12-03).
ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr sra srta etc vs cf e.g i.e".split())


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with a sentence's closing punctuation, not an abbreviation's."""
    text = text.strip()
    if not SENTENCE_END.search(text):
        return False
    last = text.split()[-1].rstrip(CLOSERS).lower()
    return not (last.endswith(".") and last[:-1] in ABBREVIATIONS)
