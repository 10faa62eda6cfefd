"""Words of text in any script (captions/words.py)."""

from __future__ import annotations

import pytest

from captions.words import join_words, split_words


def test_spaced_scripts_split_at_spaces_as_before():
    for text in ("Hello, world.  Again", "Él está aquí.", "я так мало", "", "  "):
        assert split_words(text) == text.split()
        assert join_words(split_words(text)) == " ".join(text.split())


def test_chinese_and_japanese_split_into_characters_with_their_punctuation():
    assert split_words("我在这一个讲堂中，便须。") == [*"我在这一个讲堂", "中，", "便", "须。"]
    assert split_words("聞き流す訳に 行かなかった。") == [*"聞き流す訳に行かなかっ", "た。"]
    assert split_words("「代码」") == ["「代", "码」"]


def test_latin_inside_chinese_stays_one_word():
    assert split_words("用Python写") == ["用", "Python", "写"]
    assert split_words("Whisper 的 base 模型") == ["Whisper", "的", "base", "模", "型"]


@pytest.mark.parametrize(
    ("words", "text"),
    [
        (["我", "在", "这。"], "我在这。"),
        (["Whisper", "的", "base", "模", "型"], "Whisper 的 base 模型"),
        (["用", "Python", "写"], "用 Python 写"),  # a space between scripts, as often typeset
        (["我在这", "一个"], "我在这一个"),  # texts as well as words
        (["我 hello", "world", "你好"], "我 hello world 你好"),
        (["good", "morning,", "everyone."], "good morning, everyone."),
    ],
)
def test_words_join_without_a_space_only_between_two_unspaced_ones(words, text):
    assert join_words(words) == text


def test_a_chinese_text_survives_split_and_join():
    text = "我在这一个讲堂中，便须常常随喜我那同学们的拍手和喝采。"
    assert join_words(split_words(text)) == text
