"""The embedded engine's pure logic: stable partial text and utterance endpointing."""

from __future__ import annotations

from captions.engines.offline.agreement import StablePrefix
from captions.engines.offline.endpointing import FRAME_SECONDS, Endpointer, Event


def test_words_become_stable_once_two_hypotheses_agree():
    policy = StablePrefix()
    assert policy.update("good morning every") == ("", "good morning every")
    assert policy.update("good morning everyone") == ("good morning", "everyone")
    assert policy.update("good morning everyone welcome") == ("good morning everyone", "welcome")


def test_stable_words_never_change_when_a_later_hypothesis_disagrees():
    policy = StablePrefix()
    policy.update("the cat sat")
    policy.update("the cat sat on")
    stable, rest = policy.update("a cat sat on the mat")
    assert stable == "the cat sat"
    assert rest == ""


def test_punctuation_and_case_do_not_break_agreement():
    policy = StablePrefix()
    policy.update("Good morning, everyone.")
    assert policy.update("good morning everyone! Welcome")[0] == "good morning everyone!"


def feed(endpointer: Endpointer, probability: float, seconds: float) -> list[Event]:
    events = [endpointer.feed(probability) for _ in range(round(seconds / FRAME_SECONDS))]
    return [e for e in events if e is not None]


def test_an_utterance_starts_with_speech_and_ends_after_a_pause():
    endpointer = Endpointer(end_silence=0.5)
    assert feed(endpointer, 0.0, 1.0) == []
    assert feed(endpointer, 0.9, 1.0) == [Event.STARTED]
    assert endpointer.has_speech
    assert feed(endpointer, 0.1, 0.3) == []
    assert feed(endpointer, 0.1, 0.3) == [Event.ENDED]


def test_a_long_utterance_is_cut_and_goes_on():
    endpointer = Endpointer(max_length=3.0)
    assert feed(endpointer, 0.9, 7.0) == [Event.STARTED, Event.CUT, Event.CUT]
    assert endpointer.in_utterance


def test_a_click_is_not_enough_speech_for_an_utterance():
    endpointer = Endpointer(min_speech=0.15)
    feed(endpointer, 0.9, 0.064)
    feed(endpointer, 0.0, 0.3)
    assert not endpointer.has_speech
