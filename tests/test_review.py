"""The offline engine's second look at a short final (review.py): which revisions are kept.

Word scores and times here are the ones Whisper base gave on the recorded corpus (bench/
final_context.py, SHOW_REVISIONS=1), so each case is a change the engine really proposed.
"""

from __future__ import annotations

from captions.engines.offline.review import TimedWord, doubtful, leading_words, revision


def words(spec: str, start: float = 0.0, step: float = 0.3) -> list[TimedWord]:
    """ "But:0.95 the:0.54" -> timed words, one every ``step`` seconds from ``start``."""
    timed = []
    for index, piece in enumerate(spec.split()):
        text, score = piece.rsplit(":", 1)
        at = start + index * step
        timed.append(TimedWord(" " + text, at, at + step * 0.8, float(score)))
    return timed


def test_a_doubtful_phrase_heard_surely_with_the_speech_after_it_is_revised():
    first = words("But:0.95 the:0.54 one:0.08 the:0.41 whole.:0.95")
    second = words("But,:0.98 though:0.97 on:0.98 the:1.00 whole,:0.95 except:0.72 in:0.99")
    assert doubtful(first)
    assert revision(first, second, cut=1.5) == "But, though on the whole,"


def test_a_change_to_a_word_the_second_decode_is_not_sure_of_is_not_taken():
    first = words("And:0.85 we:0.97 know:0.98 you:0.94 are:0.96 too.:0.01")
    second = words("And:0.87 we:0.95 know:0.99 you:0.95 are:0.96 two.:0.47 Big:0.86")
    assert revision(first, second, cut=1.8) is None
    first = words("You:0.04 had:0.83 put:0.69 down:0.93 his:0.95 book.:0.77")
    second = words("Bu:0.05 Han:0.27 put:0.74 down:0.86 his:1.00 book.:0.70 Then:0.93")
    assert revision(first, second, cut=1.8) is None


def test_words_the_first_decode_was_sure_of_are_neither_replaced_nor_dropped():
    first = words("We:0.97 will:0.96 see:0.98 you:0.96 tomorrow:0.90 at:0.88 the:0.92 stream:0.93")
    second = words("We:0.96 will:0.95 see:0.98 you:0.96 tomorrow:0.99 at:0.91 a:0.90 stream:0.95")
    assert revision(first, second, cut=2.4) is None  # "the" was sure: "a" does not replace it
    first = words("Need:0.73 to:0.97 pick:0.93 up:0.99 more:0.95")
    second = words("Need:0.71 pick:0.95 up:0.99 more:0.96")
    assert revision(first, second, cut=1.5) is None


def test_the_same_words_with_other_punctuation_are_no_revision():
    first = words("Imitates:0.69 a:0.99 much:1.00 freer:0.90 hand.:0.98")
    second = words("Imitates:0.69 a:0.99 much:1.00 freer:0.90 hand,:0.98 rounder:0.9")
    assert not doubtful(first)
    assert revision(first, second, cut=1.5) is None


def test_words_placed_just_before_the_cut_after_the_final_s_last_word_are_not_taken():
    first = words("Next:0.3 week.:0.9")
    second = words("Next:0.95 week:0.99 We:0.97 will:0.96", step=0.3)
    assert revision(first, second, cut=0.95) is None  # "We" ends before the cut: the next's


def test_only_the_words_before_the_cut_are_the_final_s():
    first = words("the:0.2 one:0.1")
    second = words("though:0.9 on:0.9 the:0.99 whole:0.99")
    assert revision(first, second, cut=0.6) == "though on"


def test_a_sentence_s_scored_words_are_found_at_the_start_of_a_longer_decode():
    """As the stream traced it: a stale decode scored "But they want the whole." and more;
    the partials agreed on the sentence, which takes the decode's words with its full stop."""
    decoded = [
        TimedWord(" But", 0.3, 0.5, 0.93),
        TimedWord(" they", 0.5, 0.7, 0.18),
        TimedWord(" want", 0.7, 0.9, 0.48),
        TimedWord(" the", 0.9, 1.0, 0.94),
        TimedWord(" whole", 1.0, 1.4, 0.85),
        TimedWord(".", 1.4, 1.4, 0.80),
        TimedWord(" Except", 1.7, 2.0, 0.9),
    ]
    sentence = "But they want the whole.".split()
    assert [w.text for w in leading_words(decoded, sentence)][-2:] == [" whole", "."]
    assert leading_words(decoded[:6], sentence) == tuple(decoded[:6])
    assert leading_words(decoded, "But they want the whole".split()) == ()  # "." goes on
    assert leading_words(decoded, "But they went".split()) == ()
    assert leading_words(decoded[:3], sentence) == ()
