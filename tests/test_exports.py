"""Transcript formatting: plain text, SubRip and WebVTT from stored finals."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from captions import exports


@dataclass
class Row:
    seq: int
    text: str
    start: float
    end: float


FINALS = [
    Row(2, "Second thing.", 3.0, 4.5),
    Row(1, "Hello everyone.", 0.25, 2.0),
]


def test_txt_is_one_paragraph_per_utterance_in_speaking_order():
    assert exports.to_txt(FINALS) == "Hello everyone.\n\nSecond thing.\n\n"


def test_srt_numbers_cues_and_uses_commas_in_timestamps():
    assert exports.to_srt(FINALS) == (
        "1\n00:00:00,250 --> 00:00:02,000\nHello everyone.\n\n"
        "2\n00:00:03,000 --> 00:00:04,500\nSecond thing.\n"
    )


def test_vtt_has_a_header_and_uses_dots_in_timestamps():
    assert exports.to_vtt(FINALS) == (
        "WEBVTT\n\n"
        "1\n00:00:00.250 --> 00:00:02.000\nHello everyone.\n\n"
        "2\n00:00:03.000 --> 00:00:04.500\nSecond thing.\n"
    )


def test_vtt_escapes_markup_so_captions_stay_text():
    text = exports.to_vtt([Row(1, "<b>a</b> & b --> c", 0, 1)])
    assert "&lt;b&gt;a&lt;/b&gt; &amp; b --&gt; c" in text
    assert "<b>" not in text


def test_empty_finals_are_left_out_and_numbering_stays_continuous():
    rows = [Row(1, "one", 0, 1), Row(2, "   ", 1, 2), Row(3, "three", 2, 3)]
    assert exports.to_srt(rows).startswith("1\n")
    assert "2\n00:00:02,000 --> 00:00:03,000\nthree\n" in exports.to_srt(rows)


def test_a_session_whose_clock_restarted_continues_after_the_previous_one():
    rows = [Row(1, "before the pause", 10.0, 12.0), Row(2, "after the pause", 0.5, 1.5)]
    first, second = exports.cues(rows)
    assert (first.start, first.end) == (10.0, 12.0)
    assert (second.start, second.end) == (12.0, 13.0)


def test_cues_never_overlap_and_last_long_enough_to_read():
    rows = [Row(1, "one", 0.0, 2.0), Row(2, "two", 1.5, 1.6)]
    first, second = exports.cues(rows)
    assert second.start >= first.end
    assert second.end - second.start >= exports.MIN_CUE_SECONDS


def test_long_captions_wrap_at_42_characters_without_breaking_words():
    text = "the quick brown fox jumps over the lazy dog and keeps on running far away"
    lines = exports.to_srt([Row(1, text, 0, 5)]).splitlines()[2:]
    assert len(lines) == 2
    assert all(len(line) <= 42 for line in lines)
    assert " ".join(lines) == text


def test_timestamps_carry_into_hours():
    assert exports.timestamp(3725.0456, separator=",") == "01:02:05,046"


def test_render_refuses_unknown_formats():
    with pytest.raises(ValueError):
        exports.render(FINALS, "doc")


def test_an_empty_transcript_is_still_a_valid_file():
    assert exports.to_vtt([]) == "WEBVTT\n"
    assert exports.to_srt([]) == ""
    assert exports.filename("abc123", "es", "vtt") == "abc123-es.vtt"
