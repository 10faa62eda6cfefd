"""Transcript formatting: plain text, SubRip and WebVTT from stored finals."""

from __future__ import annotations

import re
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


def test_chinese_and_japanese_captions_wrap_between_characters():
    # Written without spaces: broken at spaces only, each would be one line of any length.
    text = "我在这一个讲堂中，便须常常随喜我那同学们的拍手和喝采。"
    lines = exports.to_srt([Row(1, text, 0, 5)]).splitlines()[2:]
    assert len(lines) == 2
    assert all(len(line) <= exports.UNSPACED_LINE_LENGTH for line in lines)
    assert "".join(lines) == text
    assert exports.wrap("用 Python 写代码") == ["用 Python 写代码"]


def test_timestamps_carry_into_hours():
    assert exports.timestamp(3725.0456, separator=",") == "01:02:05,046"


def test_render_refuses_unknown_formats():
    with pytest.raises(ValueError):
        exports.render(FINALS, "doc")


def test_an_empty_transcript_is_still_a_valid_file():
    assert exports.to_vtt([]) == "WEBVTT\n"
    assert exports.to_srt([]) == ""
    assert exports.filename("abc123", "es", "vtt") == "abc123-es.vtt"


HOSTILE = [
    "<b>bold</b> and <i>italic</i>",
    "<font color=red>red</font>",
    "{\\an8}moved to the top {\\b1}loud",
    "{hidden by libass}",
    "a --> b",
    "hi\n\n5\n00:00:00,000 --> 99:00:00,000\nforged cue",
    "hi\r\n\r\n6\r\n00:00:00.000 --> 99:00:00.000\r\nforged too",
    "line\u2028separator\u2029paragraph\x85next\x0bvertical\x0cfeed",
    "<c.yellow>class</c> <v Roger>voice <00:00:01.000>timed <ruby>r<rt>t</rt></ruby>",
    "&lt;b&gt; &amp; & < >",
    "terminal \x1b[31mred\x1b[0m \x00nul \x07bell",
    "WEBVTT",
    "NOTE a comment",
    "STYLE ::cue { color: red }",
]
SRT_TIMING = re.compile(r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d")
VTT_TIMING = re.compile(r"\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d")
TAG = re.compile(r"<\s*/?\s*[A-Za-z0-9.:]|\{")


def blocks(text: str) -> list[list[str]]:
    """A transcript's cues as a player splits them: blocks of lines between blank lines."""
    return [block.split("\n") for block in text.strip("\n").split("\n\n")]


def hostile_rows() -> list[Row]:
    return [Row(i + 1, text, i, i + 0.9) for i, text in enumerate(HOSTILE)]


def test_hostile_caption_text_cannot_add_cues_timings_or_tags_to_srt():
    """Each caption is one SubRip cue of plain text, whatever markup or cue syntax it holds."""
    cue_blocks = blocks(exports.to_srt(hostile_rows()))
    assert len(cue_blocks) == len(HOSTILE)
    for number, (index, timing, *lines) in enumerate(cue_blocks, start=1):
        assert index == str(number) and SRT_TIMING.fullmatch(timing)
        for line in lines:
            assert line.strip() and "-->" not in line and not TAG.search(line)
            assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line)
    assert "bold" in cue_blocks[0][2] and "forged cue" in " ".join(cue_blocks[5][2:])


def test_hostile_caption_text_cannot_add_cues_timings_or_tags_to_vtt():
    """Each caption is one WebVTT cue whose text is escaped: no tags, timestamps or stray "&"."""
    header, *cue_blocks = blocks(exports.to_vtt(hostile_rows()))
    assert header == ["WEBVTT"] and len(cue_blocks) == len(HOSTILE)
    for number, (index, timing, *lines) in enumerate(cue_blocks, start=1):
        assert index == str(number) and VTT_TIMING.fullmatch(timing)
        for line in lines:
            assert line.strip() and "-->" not in line and "<" not in line
            assert not re.search(r"&(?!(amp|lt|gt);)", line)
            assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line)


def test_text_transcripts_carry_no_terminal_escapes():
    """A transcript read with `cat` cannot recolour or rewrite the reader's terminal."""
    text = exports.to_txt([Row(1, "terminal \x1b[31mred\x1b]0;title\x07", 0, 1)])
    assert "\x1b" not in text and "\x07" not in text and "red" in text
