"""The offline engine's streaming policy, driven by a scripted talk and a fake decoder.

No model, no threads: a talk is words and pauses; each word is a run of samples carrying its
number, so the fake decoder can "recognise" exactly the words whose audio it was given, and
a decode's answer arrives a fixed stretch of stream time after it was asked, as a real one
would while audio keeps coming.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captions.engines.offline.actions import (
    Behind,
    Cancel,
    Decode,
    Done,
    Final,
    Partial,
    Review,
    Revision,
)
from captions.engines.offline.agreement import LocalAgreement, shown_guess
from captions.engines.offline.policy import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioBuffer,
    PolicyParams,
    StreamingPolicy,
)
from captions.engines.offline.review import revision
from captions.engines.offline.sentences import ends_sentence
from captions.words import join_words, split_words

WORD = 0.32  # seconds of audio per word: 10 frames
VOCABULARY = [f"w{n}" for n in range(1, 1000)]
CHUNK = 3 * FRAME_SAMPLES  # what a presenter page sends: ~100 ms


def talk(*parts: str | float) -> tuple[np.ndarray, list[str]]:
    """Audio of words (strings, "." ends a sentence) and pauses (seconds) and its words."""
    pieces, words = [np.zeros(FRAME_SAMPLES * 4, np.float32)], []
    for part in parts:
        if isinstance(part, float | int):
            pieces.append(np.zeros(round(part * SAMPLE_RATE), np.float32))
            continue
        for word in part.split():
            words.append(word)
            pieces.append(np.full(round(WORD * SAMPLE_RATE), len(words) / 1000, np.float32))
    audio = np.concatenate(pieces)
    padding = -len(audio) % FRAME_SAMPLES
    return np.concatenate([audio, np.zeros(padding, np.float32)]), words


@dataclass
class FakeDecoder:
    """Hears word n where the audio holds n/1000 for at least half a word; answers after a delay."""

    words: list[str]
    delay: float = 0.3  # seconds of stream time a decode takes
    busy: bool = False  # partial decodes find the decoder busy
    asked: list[Decode] = field(default_factory=list)
    # A final's text -> how a look back hears it (review.py); every other word as said.
    revisions: dict[str, str] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    busy_reviews: int = 0  # the first look backs find another presenter's look back running

    def hear(self, request: Decode) -> str | None:
        if self.busy and not request.final:
            return None
        values, counts = np.unique(np.round(request.audio * 1000).astype(int), return_counts=True)
        enough = round(WORD * SAMPLE_RATE) // 2
        numbers = [v for v, n in zip(values, counts, strict=True) if v and n >= enough]
        heard = [self.words[v - 1] for v in numbers]
        prefix = split_words(request.prefix)
        assert heard[: len(prefix)] == prefix, (heard, prefix)
        # What the prefix does not cover must be in the audio the request calls its own.
        own = set(np.round(request.audio[len(request.audio) - request.fresh :] * 1000).astype(int))
        assert all(v in own for v in numbers[len(prefix) :]), request
        return join_words(heard[len(prefix) :])

    def review(self, request: Review) -> str | None:
        """What the session answers a look back: checks that its audio holds the finals it
        names (the last one's end to a word), then hears them, a revised one as ``revisions``
        says."""
        self.reviews.append(request)
        if len(self.reviews) <= self.busy_reviews:
            return None
        spoken = {revised: text for text, revised in self.revisions.items()}
        texts = [spoken.get(text, text) for text in request.texts]  # a revised one's words
        heard = [self.words[v - 1] for v in self._numbers(request.audio)]
        named = " ".join(texts).split()
        # The finals up to the one looked at are heard whole. The next one's end may be an
        # estimate (a sentence final's, words_end) and take in a word more or less.
        whole = len(" ".join(texts[: request.index + 1]).split())
        both = min(len(heard), len(named))
        assert whole <= both and heard[:both] == named[:both], request
        assert abs(len(heard) - len(named)) <= 1, request
        said = " ".join(self.revisions.get(text, text) for text in texts).split()
        said = said[: len(said) - (len(named) - both)] + heard[both:]
        return revision(request.texts, request.index, " ".join(said)) or ""

    def _numbers(self, audio: np.ndarray) -> list[int]:
        values, counts = np.unique(np.round(audio * 1000).astype(int), return_counts=True)
        enough = round(WORD * SAMPLE_RATE) // 2
        return [v for v, n in zip(values, counts, strict=True) if v and n >= enough]


def run(
    audio: np.ndarray,
    decoder: FakeDecoder,
    params: PolicyParams | None = None,
    *,
    probability=lambda frame: float(np.abs(frame).max() > 0),
) -> list[tuple[float, object]]:
    """Stream ``audio`` through a policy; return (stream seconds, action) for every action."""
    policy = StreamingPolicy(params)
    log: list[tuple[float, object]] = []
    waiting: list[tuple[int, Decode]] = []

    def carry_out(actions, now):
        for action in actions:
            log.append((now / SAMPLE_RATE, action))
            if isinstance(action, Decode):
                decoder.asked.append(action)
            if isinstance(action, Decode | Review):
                waiting.append((now + round(decoder.delay * SAMPLE_RATE), action))

    def answer_due(now):
        for due, request in list(waiting):
            if due <= now:
                waiting.remove((due, request))
                if isinstance(request, Review):
                    carry_out(policy.reviewed(request.id, decoder.review(request)), now)
                else:
                    carry_out(policy.decoded(request.id, decoder.hear(request)), now)

    for start in range(0, len(audio), CHUNK):
        chunk = audio[start : start + CHUNK]
        frames = chunk.reshape(-1, FRAME_SAMPLES)
        carry_out(policy.feed(chunk, [probability(f) for f in frames]), start + len(chunk))
        answer_due(start + len(chunk))
    end = len(audio)
    carry_out(policy.finish(), end)
    while waiting:
        end = min(due for due, _ in waiting)
        answer_due(end)
    return log


def speaker(policy: StreamingPolicy):
    """``say(seconds, voiced)``: feeds ``policy`` that much speech or silence, returns its
    actions."""

    def say(seconds: float, voiced: bool) -> list:
        actions = []
        for _ in range(round(seconds * SAMPLE_RATE / FRAME_SAMPLES)):
            frame = np.full(FRAME_SAMPLES, 0.1 if voiced else 0.0, np.float32)
            actions += policy.feed(frame, [1.0 if voiced else 0.0])
        return actions

    return say


def finals(log) -> list[Final]:
    return [a for _, a in log if isinstance(a, Final)]


def final_words(log) -> list[str]:
    return " ".join(f.text for f in finals(log)).split()


# ------------------------------------------------------------------ agreement


def test_words_become_stable_once_two_hypotheses_agree():
    agreement = LocalAgreement()
    agreement.update("good morning every".split())
    assert agreement.stable == []
    agreement.update("good morning everyone".split())
    assert agreement.stable == ["good", "morning"]
    assert agreement.guess == ["everyone"]
    agreement.update("everyone welcome".split())  # the decoder continues after stable words
    assert agreement.stable == ["good", "morning", "everyone"]


def test_punctuation_and_case_do_not_break_agreement_and_the_newer_spelling_is_kept():
    agreement = LocalAgreement()
    agreement.update("Good morning, everyone".split())
    agreement.update("good morning everyone! Welcome".split())
    assert agreement.stable == ["good", "morning", "everyone!"]


def test_the_newest_hypothesis_keeps_its_last_word_a_guess_and_its_full_stop_out():
    agreement = LocalAgreement()
    agreement.update("the earliest book.".split())  # decoded at a breath: a full stop
    agreement.update("the earliest book.".split())
    assert agreement.stable == ["the", "earliest"]
    agreement.update("book printed with".split())  # the speaker went on
    assert agreement.stable == ["the", "earliest", "book"]
    assert agreement.guess == ["printed", "with"]


def test_a_sentence_ends_with_its_closing_punctuation():
    assert ends_sentence("That is all.")
    assert ends_sentence("Really?”")
    assert not ends_sentence("first, second,")
    assert not ends_sentence("and then...")


def test_an_abbreviation_s_full_stop_ends_no_sentence():
    for text in ("I met Dr.", "missals, psalters, etc.", "Mrs.", "cheap, e.g.", "Smith vs."):
        assert not ends_sentence(text), text
    assert ends_sentence("I said no.") and ends_sentence("Is that all, etc.?")
    assert ends_sentence("We met the doctor.") and ends_sentence("最后。")


def test_an_agreed_abbreviation_does_not_cut_the_final():
    audio, words = talk("we met Dr. Smith and his wife at the station today.", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.1))
    assert [f.text for f in finals(log)] == [" ".join(words)]


# ------------------------------------------------------------------ policy


def test_chinese_partials_agree_character_by_character_and_finals_keep_no_spaces():
    # Whisper writes Chinese without spaces: taken as one "word" per clause, no two partials
    # agreed on anything before the clause was whole (tests/corpus/heldout/, 2026-12-05).
    sentence = "我 在 这 一 个 讲 堂 中， 便 须 常 常 随 喜 我 那 同 学 们 的 拍 手。"
    audio, words = talk(sentence, 1.0, "谢 谢。", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.1))
    partials = [a for _, a in log if isinstance(a, Partial)]
    assert any(len(p.stable) >= 5 for p in partials)
    assert all(" " not in p.text for p in partials)
    assert [f.text for f in finals(log)] == [sentence.replace(" ", ""), "谢谢。"]


@pytest.mark.parametrize("delay", [0.1, 0.5])  # answered before the pause ends, or after
def test_a_soft_last_syllable_after_the_last_voiced_frame_is_heard(delay):
    # The voice detector misses the last syllable (0.1 s after the rest): the final decode
    # asked at the pause stops inside it, and only the one asked later hears it.
    audio, words = talk("w1 w2 w3", 0.1, "w4.", 1.0)
    soft = len(words) / 1000

    def voiced(frame: np.ndarray) -> float:  # the last word's frames are not
        return float(np.abs(frame).max() > 0 and not np.isclose(frame, soft).any())

    log = run(audio, FakeDecoder(words, delay=delay), probability=voiced)
    assert final_words(log) == words
    without = run(
        audio, FakeDecoder(words, delay=delay), PolicyParams(tail_look=None), probability=voiced
    )
    assert final_words(without) == words[:-1]  # the test's premise


def test_a_final_decode_is_done_again_only_if_it_ends_inside_a_word_and_once():
    audio, words = talk("w1 w2 w3.", 1.0, "w4 w5,", 1.0, "w6 w7 w8", 1.0)
    decoder = FakeDecoder(words, delay=0.1)
    log = run(audio, decoder)
    assert final_words(log) == words
    by_utterance = [[], [], []]  # the utterances end at about 1.1, 2.7 and 4.7 s
    for decode in (d for d in decoder.asked if d.final):
        by_utterance[(decode.end > 2 * SAMPLE_RATE) + (decode.end > 3.5 * SAMPLE_RATE)].append(
            decode
        )
    assert [len(decodes) for decodes in by_utterance] == [1, 1, 2]
    again, first = by_utterance[2][1], by_utterance[2][0]
    assert again.end - first.end >= 0.15 * SAMPLE_RATE


def test_every_word_of_a_talk_is_final_once_and_in_order():
    audio, words = talk("a b c d.", 1.0, "e f", 0.4, "g h i.", 1.5, "j", 1.2)
    log = run(audio, FakeDecoder(words))
    assert final_words(log) == words
    assert isinstance(log[-1][1], Done)


def test_a_short_phrase_between_pauses_is_decoded_after_the_previous_utterance():
    audio, words = talk("one two three four.", 1.0, "five six", 1.0, "seven eight nine.", 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder)
    short = [d for d in decoder.asked if d.prefix.startswith("one two three four.")]
    assert short, "the short phrase was decoded alone"
    assert all(d.audio.size > 4 * WORD * SAMPLE_RATE for d in short)
    assert final_words(log) == words


CHAINED = PolicyParams(context_utterances=4)


def test_a_short_phrase_may_be_decoded_after_every_recent_short_utterance_not_the_last_only():
    audio, words = talk("one two.", 0.8, "three four.", 0.8, "five six", 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder, CHAINED)
    last = [d for d in decoder.asked if d.end > 3.2 * SAMPLE_RATE]
    assert last and all(d.prefix.startswith("one two. three four.") for d in last)
    assert all("one" not in d.prompt.split() for d in last)  # in the prefix, not twice
    assert final_words(log) == words


def test_the_context_chain_ends_at_a_long_gap_and_at_context_seconds():
    audio, words = talk("one two.", 5.0, "three four.", 0.8, "five six", 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder, CHAINED)
    last = [d for d in decoder.asked if d.end > 8.0 * SAMPLE_RATE]
    assert last and all(d.prefix.startswith("three four.") for d in last)  # not after the gap
    assert all(d.prompt.startswith("one two.") for d in last)  # too far back: prompt only
    assert final_words(log) == words
    audio, words = talk("one two.", 0.8, "three four five six.", 0.8, "seven eight", 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder, PolicyParams(context_utterances=4, context_seconds=3.0))
    last = [d for d in decoder.asked if d.end > 4.4 * SAMPLE_RATE]
    assert last and all(d.prefix.startswith("three four five six.") for d in last)
    assert final_words(log) == words


def test_by_default_only_the_previous_utterance_is_context():
    audio, words = talk("one two.", 0.8, "three four.", 0.8, "five six", 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder)
    last = [d for d in decoder.asked if d.end > 3.2 * SAMPLE_RATE]
    assert last and all(d.prefix.startswith("three four.") for d in last)
    assert all(d.prompt == "one two." for d in last)
    assert final_words(log) == words


def test_an_utterance_with_seconds_of_its_own_is_decoded_without_the_context_audio():
    long = " ".join(VOCABULARY[10:25])  # 4.8 s
    audio, words = talk("one two three four.", 1.0, long, 1.0)
    decoder = FakeDecoder(words)
    log = run(audio, decoder)
    second = [d for d in decoder.asked if d.end > (1.28 + 1.0 + 0.5) * SAMPLE_RATE]
    with_context = [d for d in second if d.prefix.startswith("one two three four.")]
    alone = [d for d in second if not d.prefix.startswith("one two three four.")]
    assert with_context and alone  # context while it is short, then its own audio only
    assert all(len(d.audio) / SAMPLE_RATE >= PolicyParams().context_below for d in alone)
    assert all("one two three four." in d.prompt for d in alone)
    assert final_words(log) == words


def test_the_first_word_is_not_clipped_when_the_voice_detector_is_late():
    audio, words = talk(1.0, "alpha bravo charlie", 1.0)
    decoder = FakeDecoder(words)
    seen = {"voiced": 0}

    def late(frame):  # the detector fires only on a word's fifth voiced frame
        if np.abs(frame).max() == 0:
            seen["voiced"] = 0
            return 0.0
        seen["voiced"] += 1
        return 1.0 if seen["voiced"] > 4 else 0.1

    log = run(audio, decoder, probability=late)
    assert final_words(log) == words


def test_a_final_comes_at_the_sentence_pause_when_its_decode_ends_a_sentence():
    params = PolicyParams()
    audio, words = talk("we start now.", 2.0)
    log = run(audio, FakeDecoder(words, delay=0.1), params)
    (at, final), last_word_end = (
        finals_with_times(log)[0],
        (4 * FRAME_SAMPLES / SAMPLE_RATE) + 3 * WORD,
    )
    assert final.text == "we start now."
    assert at - last_word_end <= params.sentence_pause + 0.15


def test_without_a_sentence_end_the_final_waits_for_the_long_pause():
    params = PolicyParams()
    audio, words = talk("and then we", 2.0)
    log = run(audio, FakeDecoder(words, delay=0.1), params)
    at, _ = finals_with_times(log)[0]
    last_word_end = (4 * FRAME_SAMPLES / SAMPLE_RATE) + 3 * WORD
    assert params.end_pause <= at - last_word_end <= params.end_pause + 0.15


def finals_with_times(log):
    return [(t, a) for t, a in log if isinstance(a, Final)]


def test_speech_after_a_short_pause_makes_the_early_decode_stale():
    audio, words = talk("one two", 0.5, "three four.", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.3))
    assert any(isinstance(a, Cancel) for _, a in log)
    assert [f.text for f in finals(log)] == ["one two three four."]


def test_partials_grow_by_agreement_and_agreed_words_are_forced_as_prefix():
    audio, words = talk("a b c d e f g h i j k l", 1.0)
    decoder = FakeDecoder(words, delay=0.1)
    log = run(audio, decoder)
    partials = [a for _, a in log if isinstance(a, Partial)]
    assert len(partials) >= 4
    stables = [p.stable.split() for p in partials]
    assert all(a == b[: len(a)] for a, b in zip(stables, stables[1:], strict=False))
    assert any(d.prefix for d in decoder.asked if not d.final)
    assert final_words(log) == words


def test_an_agreed_sentence_is_final_before_the_speaker_pauses():
    audio, words = talk("this is the first sentence. and this one goes on and on and on", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.1))
    first = finals(log)[0]
    assert first.text == "this is the first sentence."
    assert first.segment_id != finals(log)[1].segment_id
    assert final_words(log) == words


def test_a_one_word_sentence_is_not_final_by_agreement_nor_what_follows_it():
    """Greedy partials of non-native speech split "Aim as high as you can" into "A. My
    highest you can."; the final decode at the pause gets the whole utterance."""
    audio, words = talk("A. my highest you can go and more and more", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.1))
    assert [f.text for f in finals(log)] == [" ".join(words)]
    audio, words = talk("we agree. yes. and then we went on and on and on", 1.0)
    log = run(audio, FakeDecoder(words, delay=0.1))
    assert [f.text for f in finals(log)] == ["we agree.", "yes. and then we went on and on and on"]


def test_a_long_utterance_is_cut_at_its_quietest_moment():
    params = PolicyParams(max_utterance=4.0, cut_search=2.0)
    parts = " ".join(VOCABULARY[:30])
    audio, words = talk(parts, 1.0)
    log = run(audio, FakeDecoder(words, busy=True), params)  # no partials: only cuts
    assert len(finals(log)) >= 2
    assert final_words(log) == words


def test_a_busy_decoder_drops_partials_and_the_presenter_is_told():
    audio, words = talk(" ".join(VOCABULARY[:12]), 1.0)
    log = run(audio, FakeDecoder(words, busy=True))
    assert not [a for _, a in log if isinstance(a, Partial)]
    assert [a for _, a in log if isinstance(a, Behind)] == [Behind(True)]
    assert final_words(log) == words


def test_silence_asks_for_no_decode():
    audio = np.zeros(60 * SAMPLE_RATE, np.float32)
    log = run(audio, FakeDecoder([]))
    assert [a for _, a in log if not isinstance(a, Done)] == []


def test_a_click_is_not_an_utterance():
    audio = np.concatenate([np.zeros(FRAME_SAMPLES * 32), np.full(FRAME_SAMPLES * 2, 0.001)])
    audio = np.concatenate([audio, np.zeros(FRAME_SAMPLES * 64)]).astype(np.float32)
    log = run(audio, FakeDecoder(["w1"]))
    assert [a for _, a in log if isinstance(a, Decode)] == []


def test_the_end_of_the_stream_finalizes_the_open_utterance():
    audio, words = talk("no pause at the end")
    log = run(audio, FakeDecoder(words))
    assert final_words(log) == words
    assert isinstance(log[-1][1], Done)


def test_a_final_ends_where_its_last_voiced_frame_ended():
    audio, words = talk(1.0, "a b c.", 1.0)
    final = finals(run(audio, FakeDecoder(words)))[0]
    spoken_end = 4 * FRAME_SAMPLES / SAMPLE_RATE + 1.0 + 3 * WORD
    assert abs(final.end - spoken_end) <= FRAME_SAMPLES / SAMPLE_RATE


sentence = st.lists(st.sampled_from(VOCABULARY[:50]), min_size=1, max_size=25).map(
    lambda ws: " ".join(ws[:-1] + [ws[-1] + "."])
)
pause = st.floats(min_value=0.05, max_value=2.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(sentence, pause), min_size=1, max_size=6),
    st.floats(min_value=0.05, max_value=1.2),
    st.sampled_from([1, 4]),
)
def test_no_word_is_lost_or_repeated_whatever_the_pauses_and_decode_times(parts, delay, chain):
    flat = [piece for part in parts for piece in part]
    audio, words = talk(*flat)
    log = run(audio, FakeDecoder(words, delay=delay), PolicyParams(context_utterances=chain))
    assert final_words(log) == words


# ------------------------------------------------------------------ look back (review.py)


def talk_words(count: int, first: int = 0) -> str:
    return " ".join(VOCABULARY[first : first + count])


def test_a_final_is_looked_back_at_with_the_finals_before_it_once_the_next_is_out():
    first = talk_words(10, 40) + "."  # 3.2 s
    audio, words = talk(first, 1.0, "six seven", 1.0, talk_words(12) + ".", 1.0)
    decoder = FakeDecoder(words, revisions={"six seven": "sixty seven"})
    log = run(audio, decoder)
    assert [(r.texts, r.index) for r in decoder.reviews] == [
        ((first, "six seven"), 0),
        ((first, "six seven", talk_words(12) + "."), 1),  # the next one's whole audio too
    ]
    final = next(f for f in finals(log) if f.text == "six seven")
    (looked,) = [r for r in decoder.reviews if r.segment_id == final.segment_id]
    assert looked.prompt == "" and looked.beam == PolicyParams().final_beam
    actions = [a for _, a in log]
    assert actions.index(looked) > actions.index(finals(log)[-1])  # asked once the next is out
    revisions = [a for _, a in log if isinstance(a, Revision)]
    assert [(r.segment_id, r.text) for r in revisions] == [(final.segment_id, "sixty seven")]
    assert (revisions[0].start, revisions[0].end) == (final.start, final.end)
    assert final_words(log) == words  # the finals themselves are unchanged


def test_a_look_back_aligns_with_the_finals_as_revised_and_prompts_with_the_text_before():
    audio, words = talk("a b.", 1.0, "c d.", 1.0, "e f.", 1.0, "g h.", 1.0)
    decoder = FakeDecoder(words, revisions={"c d.": "see d."})
    log = run(audio, decoder, PolicyParams(look_back=2.0))
    assert [(r.texts, r.index) for r in decoder.reviews] == [
        (("a b.", "c d."), 0),
        (("a b.", "c d.", "e f."), 1),
        (("see d.", "e f.", "g h."), 1),  # "a b." began more than 2 s before "e f."
    ]
    assert decoder.reviews[-1].prompt == "a b."
    assert [a.text for _, a in log if isinstance(a, Revision)] == ["see d."]


def test_only_a_final_of_a_few_seconds_with_speech_soon_after_it_is_looked_back_at():
    long = talk_words(26) + "."  # 8.3 s of its own
    audio, words = talk(long, 1.0, "x y", 1.0, talk_words(12, 20) + ".", 1.0)
    decoder = FakeDecoder(words)
    run(audio, decoder)
    assert [r.texts[r.index] for r in decoder.reviews] == ["x y"]
    assert decoder.reviews[0].texts[0] == "x y"  # the long one began more than 8 s before
    audio, words = talk("x y.", 4.5, "z.", 1.0)  # more than context_gap of silence between
    decoder = FakeDecoder(words)
    run(audio, decoder)
    assert decoder.reviews == []
    audio, words = talk("x y.", 1.0, talk_words(12, 20) + ".", 1.0)
    decoder = FakeDecoder(words)
    run(audio, decoder, PolicyParams(review_below=None))
    assert decoder.reviews == []


def test_a_look_back_is_asked_as_the_next_final_goes_out_and_never_while_behind():
    audio, words = talk("a b.", 0.6, "c d.", 0.6, talk_words(12, 20) + ".", 1.0)
    decoder = FakeDecoder(words, delay=0.5)
    log = run(audio, decoder)
    assert final_words(log) == words
    assert [r.texts[r.index] for r in decoder.reviews] == ["a b.", "c d."]
    ends = [t for t, a in log if isinstance(a, Final)]
    asked = [t for t, a in log if isinstance(a, Review)]
    assert asked == ends[1:]  # beside the live decodes: no wait for the decoder
    # Partials find the decoder busy from the start (another presenter): behind before the
    # first look back is due, and still behind at the end: no look back at all.
    audio, words = talk(talk_words(12, 20) + ".", 1.0, "a b.", 1.0, "c d.", 1.0)
    decoder = FakeDecoder(words, busy=True, revisions={"a b.": "a bee."})
    log = run(audio, decoder)
    assert any(isinstance(a, Behind) and a.behind for _, a in log)
    assert final_words(log) == words and decoder.reviews == []
    decoder = FakeDecoder(words, revisions={"a b.": "a bee."})
    run(audio, decoder)  # the same talk, not behind
    assert [r.texts[r.index] for r in decoder.reviews] == [talk_words(12, 20) + ".", "a b."]


def test_a_look_back_that_finds_another_running_is_tried_again_a_little_later():
    audio, words = talk("a b.", 0.6, "c d.", 0.6, talk_words(12, 20) + ".", 1.0)
    decoder = FakeDecoder(words, delay=0.1, busy_reviews=2, revisions={"a b.": "a bee."})
    log = run(audio, decoder)
    assert [r.texts[r.index] for r in decoder.reviews] == ["a b."] * 3 + ["c d."]
    asked = [t for t, a in log if isinstance(a, Review)]
    assert asked[1] - asked[0] >= 0.3 and asked[2] - asked[1] >= 0.3  # 0.2 s after the answer
    assert [a.text for _, a in log if isinstance(a, Revision)] == ["a bee."]


def one_final_out_and_the_next_asked(policy: StreamingPolicy, say) -> Decode:
    """Said: "a b.", final; "c d", its pause over, its final decode asked and unanswered."""
    say(0.6, True)
    (final,) = [a for a in say(0.2, False) if isinstance(a, Decode)]
    policy.decoded(final.id, "a b.")
    assert any(isinstance(a, Final) for a in say(0.5, False))
    say(0.6, True)
    (final,) = [a for a in say(0.7, False) if isinstance(a, Decode)]
    return final


def test_a_look_back_goes_out_beside_the_final_decode_the_open_pause_needs():
    # No partial in the first 0.6 s; its finals end sentences: no second final decode.
    policy = StreamingPolicy(PolicyParams(first_partial_after=1.0))
    say = speaker(policy)

    final = one_final_out_and_the_next_asked(policy, say)
    assert not any(isinstance(a, Decode | Review) for a in say(0.6, True) + say(0.2, False))
    # Its answer makes the look back at "a b." due, and the open utterance's pause wants its
    # final decode: both go out at once.
    answered = policy.decoded(final.id, "c d.")
    assert [type(a) for a in answered if isinstance(a, Final | Decode | Review)] == [
        Final,
        Review,
        Decode,
    ]
    assert next(a for a in answered if isinstance(a, Decode)).final


def test_a_look_back_in_flight_holds_up_no_partial():
    policy = StreamingPolicy(PolicyParams(first_partial_after=1.0))
    say = speaker(policy)

    final = one_final_out_and_the_next_asked(policy, say)
    say(0.6, True)  # the next utterance begins before "c d." is answered
    answered = policy.decoded(final.id, "c d.")
    (review,) = [a for a in answered if isinstance(a, Review)]
    (partial,) = [a for a in say(0.5, True) if isinstance(a, Decode)]  # its first partial
    assert not partial.final
    answered = policy.reviewed(review.id, "") + policy.decoded(partial.id, "e f g")
    assert [type(a) for a in answered if isinstance(a, Partial | Review)] == [Partial]


def test_the_stream_ends_only_after_the_look_back_in_flight():
    policy = StreamingPolicy(PolicyParams(first_partial_after=1.0))
    say = speaker(policy)

    final = one_final_out_and_the_next_asked(policy, say)
    (review,) = [a for a in policy.decoded(final.id, "c d.") if isinstance(a, Review)]
    assert not any(isinstance(a, Done) for a in policy.finish())
    answered = policy.reviewed(review.id, "a bee.")
    assert [type(a) for a in answered] == [Revision, Done]


def test_no_decode_is_longer_than_whisper_hears_at_once():
    long_sentence = " ".join(VOCABULARY[:44]) + "."  # 14 s of speech
    audio, words = talk(long_sentence, 1.0, " ".join(VOCABULARY[44:88]) + ".", 1.0)
    decoder = FakeDecoder(words, delay=0.2)
    log = run(audio, decoder)
    assert max(len(d.audio) for d in decoder.asked) <= 29.5 * SAMPLE_RATE
    assert final_words(log) == words


def test_a_partial_shows_the_guess_without_its_last_word_once_words_are_agreed():
    agreement = LocalAgreement()
    agreement.update("good mor".split())
    assert shown_guess(agreement) == ["good", "mor"]  # nothing agreed yet: show what is heard
    agreement.update("good morning every".split())
    assert agreement.stable == ["good"]
    assert shown_guess(agreement) == ["morning"]


def test_the_audio_buffer_keeps_stream_samples_through_growth_and_trimming():
    buffer = AudioBuffer()
    stream = np.arange(SAMPLE_RATE * 70, dtype=np.float32)  # past the first storage's 30 s
    for start in range(0, len(stream), CHUNK):
        buffer.append(stream[start : start + CHUNK])
    assert np.array_equal(buffer.between(100, 200), stream[100:200])
    buffer.drop_before(SAMPLE_RATE * 50)
    assert np.array_equal(
        buffer.between(SAMPLE_RATE * 60, SAMPLE_RATE * 61), stream[960_000:976_000]
    )
    assert np.array_equal(buffer.between(0, SAMPLE_RATE * 50 + 3), stream[800_000:800_003])


def test_a_final_decode_that_waits_for_the_decoder_does_not_hear_the_next_utterance():
    """The pause ends an utterance while a slow decode holds the decoder; by the time its
    final decode runs the speaker has started again: those words belong to the next one."""
    audio, words = talk(
        "a b c d e f g.", 0.25, "h i j k l m n o.", 0.25, "p q r s.", 1.0, "t.", 1.0
    )
    log = run(audio, FakeDecoder(words, delay=1.19))
    assert final_words(log) == words


def speak_until_decode(policy: StreamingPolicy) -> Decode:
    """Feed voiced frames until the policy asks for a decode; return the request."""
    frame = np.full(FRAME_SAMPLES, 0.01, np.float32)
    for _ in range(200):
        asked = [a for a in policy.feed(frame, [1.0]) if isinstance(a, Decode)]
        if asked:
            return asked[0]
    raise AssertionError("no decode asked for")


def test_an_agreed_sentence_end_is_final_only_once_a_word_after_it_is_agreed_too():
    policy = StreamingPolicy()
    first = speak_until_decode(policy)
    assert not first.final
    shown = policy.decoded(first.id, "this is it.")  # a first hypothesis: nothing agreed
    assert [a.stable for a in shown if isinstance(a, Partial)] == [""]
    second = speak_until_decode(policy)
    actions = policy.decoded(second.id, "this is it. And")  # "it." agreed, "And" a guess
    assert not [a for a in actions if isinstance(a, Final)]
    third = speak_until_decode(policy)
    actions = policy.decoded(third.id, "And then")
    assert [a.text for a in actions if isinstance(a, Final)] == ["this is it."]
    fourth = speak_until_decode(policy)
    assert fourth.prefix == "this is it. And"  # the final is forced: never decoded twice


def test_without_agreed_finals_an_agreed_sentence_waits_for_its_final_decode():
    """Partials from a smaller model than finals make no final (the engine turns this off)."""
    policy = StreamingPolicy(PolicyParams(agreed_finals=False))
    for text in ("this is it.", "this is it. And", "And then"):
        request = speak_until_decode(policy)
        actions = policy.decoded(request.id, text)
        assert not [a for a in actions if isinstance(a, Final)]
    assert [a.stable for a in actions if isinstance(a, Partial)] == ["this is it. And"]


def test_a_stale_final_decode_counts_as_a_hypothesis_when_partials_find_the_decoder_busy():
    audio, words = talk("a b c", 0.2, "d e f", 0.2, "g h i", 1.0)
    log = run(audio, FakeDecoder(words, busy=True))  # partials skipped: only finals decode
    assert any(isinstance(a, Cancel) for _, a in log)  # the short pauses' decodes went stale
    partials = [a for _, a in log if isinstance(a, Partial)]
    assert [p.stable for p in partials] == ["", "a b c"]  # agreed by two stale decodes
    assert final_words(log) == words


def test_partial_decodes_leave_the_decoder_idle_for_a_share_of_the_time_they_take():
    audio, words = talk(" ".join(VOCABULARY[:30]), 1.0)
    log = run(audio, FakeDecoder(words, delay=0.5), PolicyParams(partial_duty=0.5))
    asked = [t for t, a in log if isinstance(a, Decode) and not a.final]
    gaps = [b - a for a, b in zip(asked, asked[1:], strict=False)]
    assert len(asked) >= 5
    assert min(gaps) >= 2 * 0.5 - CHUNK / SAMPLE_RATE  # the decode's 0.5 s, then 0.5 s idle
    assert final_words(log) == words


def test_a_partial_decode_calls_its_own_only_the_audio_after_its_agreed_words():
    """Its own audio bounds the text a decode may produce (a decode caught in a loop stops)."""
    audio, words = talk(" ".join(VOCABULARY[:30]), 1.0)
    decoder = FakeDecoder(words, delay=0.1)
    log = run(audio, decoder)
    late = [d for d in decoder.asked if not d.final and d.end > 6 * SAMPLE_RATE]
    assert late and all(d.fresh < len(d.audio) / 2 for d in late)
    assert final_words(log) == words  # FakeDecoder checks every heard word is in its own audio
