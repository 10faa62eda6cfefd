"""bench/speech_metrics.py on hand-made word lists: no model, no audio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import speech_metrics as m

pytestmark = pytest.mark.timeout(10)


def words(text: str, start: float = 0.0, step: float = 0.5) -> list[m.Word]:
    """Words 0.4 s long, one every ``step`` seconds from ``start``."""
    return [m.Word(w, start + i * step, start + i * step + 0.4) for i, w in enumerate(text.split())]


# "good morning everyone" 0-1.4 s, a 1.6 s pause, "welcome to our talk" 3.0-4.9 s
OFFLINE = words("good morning everyone") + words("welcome to our talk", start=3.0)


def test_normalise_lowers_case_splits_on_punctuation_and_drops_apostrophes():
    """Case and punctuation do not count; "don't" is "dont", as in tests/corpus.py."""
    assert m.normalise(" Don't stop, well-known OK?") == ["dont", "stop", "well", "known", "ok"]


def test_timed_words_keep_whispers_times_for_every_piece():
    """A Whisper word that normalises to two words gives both its times; punctuation none."""
    got = m.timed_words([(" Well-known", 1.0, 1.3), (" -", 1.3, 1.4), (" fine.", 1.4, 1.8)])
    assert got == [m.Word("well", 1.0, 1.3), m.Word("known", 1.0, 1.3), m.Word("fine", 1.4, 1.8)]


def test_unmatched_runs_are_maximal_and_at_least_two_long():
    """A lone unmatched word is not a run; a run ends where a matched word starts."""
    assert m.unmatched_runs(8, {0, 2, 5}) == [range(3, 5), range(6, 8)]


def test_a_missing_phrase_is_dropped():
    """Two consecutive offline words absent from the finals are a dropped phrase."""
    finals = m.normalise("Good morning everyone. Welcome talk.")
    dropped = m.dropped_phrases(OFFLINE, finals)
    assert [[w.text for w in phrase] for phrase in dropped] == [["to", "our"]]
    assert dropped[0][0].start == 3.5


def test_a_single_missing_word_is_not_a_dropped_phrase():
    """One misheard word is a word error, not a dropped phrase."""
    finals = m.normalise("good morning everyone welcome two our talk")
    assert m.dropped_phrases(OFFLINE, finals) == []


def test_words_only_the_offline_pass_heard_are_not_dropped_phrases():
    """A run the reference does not confirm (offline hallucination) does not count."""
    offline = words("thanks for watching good morning everyone")
    finals = m.normalise("good morning everyone")
    reference = m.normalise("good morning everyone")
    assert m.dropped_phrases(offline, finals, reference) == []
    assert len(m.dropped_phrases(offline, finals)) == 1


def test_a_clip_whose_first_or_last_word_no_final_has_lost_that_edge():
    """ "numéro 1" shown as "numéro.": the last spoken word is a lost edge; so is a first."""
    offline, reference = words("cest la dictée numéro un"), m.normalise("c'est la dictée numéro un")
    end = m.lost_edges(offline, m.normalise("C'est la dictée numéro."), reference)
    assert [(edge, word.text, word.start) for edge, word in end] == [("end", "un", 2.0)]
    start = m.lost_edges(offline, m.normalise("la dictée numéro un"), reference)
    assert [(edge, word.text) for edge, word in start] == [("start", "cest")]
    assert m.lost_edges(offline, reference, reference) == []


def test_an_edge_word_the_offline_pass_misheard_is_no_yardstick():
    """The edges are the first and last offline words the reference confirms."""
    offline, reference = words("please cool stellar"), m.normalise("Please call Stella.")
    assert m.lost_edges(offline, m.normalise("please"), reference) == []
    assert [w.text for _, w in m.lost_edges(offline, [], reference)] == ["please"]


def test_final_latency_runs_from_the_end_of_its_last_matched_word():
    """Each final's latency is its arrival minus the offline end of its last matched word."""
    finals = [
        m.Shown(arrival=2.4, text="Good morning, everyone."),
        m.Shown(arrival=5.5, text="Welcome to our talk, uh"),  # "uh": matches nothing
    ]
    latencies, unmatched = m.final_latencies(OFFLINE, finals)
    assert latencies == pytest.approx([2.4 - 1.4, 5.5 - 4.9])
    assert unmatched == 0


def test_a_final_matching_no_offline_word_has_no_latency_and_is_counted():
    """A final of words the offline pass never heard gets no latency but is counted."""
    finals = [m.Shown(arrival=2.0, text="good morning everyone"), m.Shown(2.5, "thank you")]
    latencies, unmatched = m.final_latencies(OFFLINE, finals)
    assert latencies == pytest.approx([2.0 - 1.4])
    assert unmatched == 1


def test_speech_stretches_split_at_pauses_of_half_a_second():
    """A pause of 0.5 s or more starts a new stretch; speech seconds add the stretches."""
    assert m.speech_stretches(OFFLINE) == [range(0, 3), range(3, 7)]
    assert m.speech_seconds(OFFLINE) == pytest.approx(1.4 + 1.9)


def test_onset_latency_is_the_first_caption_containing_a_word_of_the_stretch():
    """Partials count; the first caption with a word of the stretch sets the latency."""
    shown = [
        m.Shown(0.9, "good", 0.0, 0.9, final=False),
        m.Shown(3.9, "welcome", 3.0, 3.9, final=False),
    ]
    latencies, missed = m.onset_latencies(OFFLINE, shown)
    assert latencies == pytest.approx([0.9, 0.9])
    assert missed == 0


def test_a_partial_of_the_previous_utterance_does_not_count_for_the_next_onset():
    """A partial whose span grows past the onset but holds only earlier words does not count."""
    shown = [
        m.Shown(1.5, "good morning everyone", 0.0, 1.5, final=False),
        m.Shown(3.4, "good morning everyone", 0.0, 3.4, final=False),
        m.Shown(4.2, "good morning everyone welcome to", 0.0, 4.2, final=False),
    ]
    latencies, missed = m.onset_latencies(OFFLINE, shown)
    assert latencies == pytest.approx([1.5, 1.2])
    assert missed == 0


def test_a_stretch_never_shown_is_missed():
    """A stretch no caption contains is counted as missed, not given a latency."""
    latencies, missed = m.onset_latencies(OFFLINE, [m.Shown(2.0, "good morning", 0.0, 2.0)])
    assert latencies == pytest.approx([2.0])
    assert missed == 1


def test_a_revision_is_a_partial_that_does_not_extend_the_previous_one():
    """Extensions and punctuation changes are not revisions; a changed word is, per segment."""
    partials = [
        m.Shown(1.0, "good", segment="s1"),
        m.Shown(1.5, "Good morning,", segment="s1"),
        m.Shown(2.0, "good mourning every", segment="s1"),
        m.Shown(2.1, "welcome", segment="s2"),
        m.Shown(2.5, "good mourning everyone", segment="s1"),
    ]
    assert m.revisions(partials) == 1


def test_word_errors_count_substitutions_insertions_and_deletions():
    """Levenshtein distance over words."""
    assert m.word_errors(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert m.word_errors([], ["a"]) == 1


def test_percentile_is_nearest_rank():
    """p50 of four values is the second; p95 the largest; no values give NaN."""
    assert m.percentile([4, 1, 3, 2], 50) == 2
    assert m.percentile([4, 1, 3, 2], 95) == 4
    assert math.isnan(m.percentile([], 50))


def test_stretched_pauses_lengthen_the_gaps_between_words_and_keep_the_words():
    """A 0.2 s pause becomes 1.0 s of quiet at its middle; a 0.05 s gap is no pause."""
    from bench.engine import RATE, stretch_pauses

    voice = np.full(RATE, 0.5, dtype=np.float32)
    audio = np.concatenate([voice, np.zeros(RATE // 5), voice, np.zeros(RATE // 20), voice])
    said = [m.Word("one", 0.0, 1.0), m.Word("two", 1.2, 2.2), m.Word("three", 2.25, 3.25)]
    out = stretch_pauses(audio, said, seconds=1.0)
    assert len(out) == len(audio) + int(0.8 * RATE)
    loud = np.flatnonzero(out > 0.4)
    breaks = np.flatnonzero(np.diff(loud) > 1) + 1
    runs = [len(run) for run in np.split(loud, breaks)]
    assert runs == [RATE, RATE, RATE]  # every word whole
    gaps = [(b - a) / RATE for a, b in zip(loud[breaks - 1], loud[breaks], strict=True)]
    assert gaps[0] == pytest.approx(1.0, abs=0.01) and gaps[1] == pytest.approx(0.05, abs=0.01)
    assert np.abs(out[RATE : RATE + RATE // 2]).max() < 0.01  # quiet, not loud


def test_the_browser_bench_times_a_final_by_its_first_arrival_not_its_revision():
    """A look back's revision of a final comes seconds later with the same seq: it is no
    final's arrival (bench/browser_latency.py counted one as a final 12 s late)."""
    from bench.browser_latency import as_shown, measure

    def caption(seq, text, arrival, **more):
        return {"seq": seq, "text": text, "start": 0.0, "end": 1.4, "final": True,
                "arrival": arrival, **more}  # fmt: skip

    shown = as_shown(
        [
            caption(1, "Good mourning everyone.", 2.0),
            caption(2, "Welcome to our talk.", 5.5),
            caption(1, "Good morning everyone.", 9.0, revision=1),
        ],
        shift=0.0,
    )
    assert [c.text for c in shown] == ["Good mourning everyone.", "Welcome to our talk."]
    got = measure(OFFLINE, shown)
    assert got["finals"] == 2 and got["last"] == pytest.approx([2.0 - 1.4, 5.5 - 4.9])
