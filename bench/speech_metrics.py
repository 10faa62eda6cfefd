"""Pure measures of streaming captions against an offline pass of the same recording.

No I/O and no model: word lists with times in, numbers out. The offline pass (the same Whisper
model on the whole file, with word timestamps) is the yardstick for *when* each word was
spoken; the corpus reference is the yardstick for *what* was said.

Words are compared normalised as the corpus's word error rate does (see ``normalise``) and
aligned with ``difflib.SequenceMatcher`` (no junk heuristic), so one alignment serves every
measure: dropped phrases, last word -> final and onset -> first text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from tests.corpus import edit_distance, normalise

word_errors = edit_distance  # word-level Levenshtein distance of two normalised word lists

PAUSE = 0.5  # seconds of silence between offline words that start a new stretch of speech


@dataclass(frozen=True)
class Word:
    """One normalised word of the offline pass, with its stream times in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Shown:
    """A caption as it reached a reader: arrival time (stream seconds), text and stream span."""

    arrival: float
    text: str
    start: float = 0.0
    end: float = math.inf
    final: bool = True
    segment: str = ""


def timed_words(pieces: Iterable[tuple[str, float, float]]) -> list[Word]:
    """Whisper's words (" well-known," 1.2, 1.5) as normalised Words; a piece may give 0 or 2."""
    return [Word(w, start, end) for text, start, end in pieces for w in normalise(text)]


def match(a: Sequence[str], b: Sequence[str]) -> dict[int, int]:
    """Index in ``a`` -> index in ``b`` for every word the alignment pairs."""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return {i + k: j + k for i, j, n in matcher.get_matching_blocks() for k in range(n)}


def unmatched_runs(length: int, matched: Iterable[int], minimum: int = 2) -> list[range]:
    """Maximal runs of indices below ``length`` not in ``matched``, at least ``minimum`` long."""
    hit = set(matched)
    runs, start = [], None
    for i in range(length + 1):
        if i < length and i not in hit:
            start = i if start is None else start
            continue
        if start is not None and i - start >= minimum:
            runs.append(range(start, i))
        start = None
    return runs


def dropped_phrases(
    offline: Sequence[Word], finals: Sequence[str], reference: Sequence[str] | None = None
) -> list[list[Word]]:
    """Runs of >= 2 offline words that no final contains, and that the reference confirms.

    ``finals`` is the finals' words in order. A run counts when at least 2 of its words also
    align with the reference (so a word the offline pass invented is not a streaming drop);
    without a reference every run counts.
    """
    texts = [w.text for w in offline]
    runs = unmatched_runs(len(offline), match(texts, finals))
    if reference is None:
        return [[offline[i] for i in run] for run in runs]
    confirmed = match(texts, reference)
    return [[offline[i] for i in run] for run in runs if sum(i in confirmed for i in run) >= 2]


def lost_edges(
    offline: Sequence[Word], finals: Sequence[str], reference: Sequence[str]
) -> list[tuple[str, Word]]:
    """The recording's first and last spoken words, where no final contains them.

    The first and last offline words that align with the reference (a word the offline pass
    misheard is no yardstick) are looked up in one alignment with the finals' words; each
    that is missing comes back as ("start", word) or ("end", word). A short clip's edges are
    where a voice detector's lag or a stream's end loses words ("numéro 1" -> "numéro.").
    """
    texts = [w.text for w in offline]
    confirmed = sorted(match(texts, reference))
    if not confirmed:
        return []
    kept = match(texts, finals)
    edges = [("start", confirmed[0]), ("end", confirmed[-1])][: 2 if len(confirmed) > 1 else 1]
    return [(edge, offline[i]) for edge, i in edges if i not in kept]


def last_matched_words(offline: Sequence[Word], finals: Sequence[Shown]) -> dict[int, int]:
    """Final index -> offline index of the final's last word that aligned to the offline pass.

    All finals' words, in order, are aligned at once to the offline words.
    """
    words, owner = [], []
    for index, final in enumerate(finals):
        mine = normalise(final.text)
        words += mine
        owner += [index] * len(mine)
    last: dict[int, int] = {}
    for i, j in sorted(match(words, [w.text for w in offline]).items()):
        last[owner[i]] = j
    return last


def final_latencies(offline: Sequence[Word], finals: Sequence[Shown]) -> tuple[list[float], int]:
    """Last word -> final: each final's arrival minus the offline end of its last matched word.

    Returns the latencies and how many finals with text had no word matching the offline pass.
    """
    last = last_matched_words(offline, finals)
    latencies = [finals[f].arrival - offline[j].end for f, j in sorted(last.items())]
    with_text = sum(1 for f in finals if normalise(f.text))
    return latencies, with_text - len(latencies)


def speech_stretches(offline: Sequence[Word], pause: float = PAUSE) -> list[range]:
    """Offline word indices grouped into stretches separated by >= ``pause`` s of silence."""
    stretches, first = [], 0
    for i in range(1, len(offline) + 1):
        if i == len(offline) or offline[i].start - offline[i - 1].end >= pause:
            stretches.append(range(first, i))
            first = i
    return [s for s in stretches if len(s)]


def speech_seconds(offline: Sequence[Word], pause: float = PAUSE) -> float:
    """Seconds of speech: the summed spans of the stretches (short pauses count as speech)."""
    return sum(offline[s[-1]].end - offline[s[0]].start for s in speech_stretches(offline, pause))


def covered_words(offline: Sequence[Word], shown: Shown, margin: float = 0.5) -> set[int]:
    """Offline word indices that ``shown`` contains: its words aligned to the offline words
    within its stream span (widened by ``margin`` s, since spans are approximate)."""
    nearby = [
        i
        for i, w in enumerate(offline)
        if w.end >= shown.start - margin and w.start <= shown.end + margin
    ]
    pairs = match(normalise(shown.text), [offline[i].text for i in nearby])
    return {nearby[j] for j in pairs.values()}


def first_showing(
    offline: Sequence[Word], shown: Sequence[Shown], pause: float = PAUSE
) -> list[tuple[range, Shown | None]]:
    """Per stretch of speech, the first caption arriving after its onset that contains one of
    its words (``covered_words``), or None."""
    ordered = sorted((s for s in shown if normalise(s.text)), key=lambda s: s.arrival)
    covers = [(s, covered_words(offline, s)) for s in ordered]
    firsts = []
    for stretch in speech_stretches(offline, pause):
        onset = offline[stretch[0]].start
        hits = [s for s, words in covers if s.arrival >= onset and words.intersection(stretch)]
        firsts.append((stretch, hits[0] if hits else None))
    return firsts


def onset_latencies(
    offline: Sequence[Word], shown: Sequence[Shown], pause: float = PAUSE
) -> tuple[list[float], int]:
    """Onset -> first text, per stretch of speech; also how many stretches never showed.

    An onset is the first word of a stretch (after >= ``pause`` s of silence, or the first
    word). Its latency is the arrival of the first caption, partial or final, arriving after
    the onset and containing a word of that stretch (``first_showing``), minus the onset's
    offline start. Matching words rather than spans keeps a partial of the previous
    utterance, whose span grows past the onset, from counting.
    """
    firsts = first_showing(offline, shown, pause)
    latencies = [s.arrival - offline[r[0]].start for r, s in firsts if s is not None]
    return latencies, len(firsts) - len(latencies)


def revisions(partials: Iterable[Shown]) -> int:
    """Partials whose text does not extend the previous partial's text in the same segment.

    Texts are compared normalised, so a punctuation or case change is not a revision, nor is
    a last word that grows ("every" -> "everyone").
    """
    last: dict[str, str] = {}
    count = 0
    for partial in partials:
        text = " ".join(normalise(partial.text))
        previous = last.get(partial.segment)
        if previous is not None and not text.startswith(previous):
            count += 1
        last[partial.segment] = text
    return count


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
