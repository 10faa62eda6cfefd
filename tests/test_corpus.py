"""The real-speech corpus: its manifest, its files, its README, and word error rate."""

from __future__ import annotations

import wave

import pytest

from tests.corpus import (
    CLIPS_MANIFEST,
    CORPUS_DIR,
    HELDOUT_MANIFEST,
    audio,
    load_manifest,
    normalise,
    wav_path,
    word_error_rate,
)

pytestmark = pytest.mark.timeout(60)

ITEMS = load_manifest()
SPEECH = [item for item in ITEMS if item.reference]
HELDOUT = load_manifest(HELDOUT_MANIFEST)
CLIPS = load_manifest(CLIPS_MANIFEST)


def test_every_listed_file_exists_inside_the_corpus_folder():
    for item in ITEMS:
        assert item.path.is_file(), item.file
        assert item.path.parent == CORPUS_DIR


def test_item_ids_are_unique():
    assert len({item.id for item in ITEMS}) == len(ITEMS)


def test_held_out_files_sit_beside_their_manifest():
    for item in HELDOUT:
        assert item.path.is_file(), item.file
        assert item.path.parent == HELDOUT_MANIFEST.parent


def test_held_out_recordings_share_nothing_with_the_corpus():
    assert not {i.id for i in HELDOUT} & {i.id for i in ITEMS}
    assert not {i.reference for i in HELDOUT} & {i.reference for i in ITEMS}
    assert not {s for i in HELDOUT for s in i.speakers if not s.startswith("ljspeech")} & {
        s for i in ITEMS for s in i.speakers
    }


def test_the_held_out_readme_names_every_file():
    readme = (HELDOUT_MANIFEST.parent / "README.md").read_text(encoding="utf-8")
    for item in HELDOUT:
        assert item.file in readme


def test_clips_sit_beside_their_manifest_and_are_short_single_recordings():
    for item in CLIPS:
        assert item.path.is_file(), item.file
        assert item.path.parent == CLIPS_MANIFEST.parent
        assert item.reference and len(item.speakers) == 1
        assert item.seconds <= 15, item.id
    assert len({item.id for item in CLIPS}) == len(CLIPS)


def test_clips_share_no_speaker_or_text_with_the_corpus_or_the_held_out_recordings():
    others = ITEMS + HELDOUT
    assert not {i.id for i in CLIPS} & {i.id for i in others}
    assert not {i.reference for i in CLIPS} & {i.reference for i in others}
    assert not {s for i in CLIPS for s in i.speakers} & {s for i in others for s in i.speakers}


def test_the_clips_readme_names_every_file():
    readme = (CLIPS_MANIFEST.parent / "README.md").read_text(encoding="utf-8")
    for item in CLIPS:
        assert item.file in readme


ALL = ITEMS + HELDOUT + CLIPS


@pytest.mark.parametrize("item", ALL, ids=[item.id for item in ALL])
def test_decoded_duration_matches_the_manifest(item):
    assert abs(len(audio(item)) / 16000 - item.seconds) < 0.2


def test_speech_lasts_at_least_five_minutes():
    assert sum(item.seconds for item in SPEECH) >= 300


def test_at_least_four_distinct_speakers_are_heard():
    assert len({speaker for item in SPEECH for speaker in item.speakers}) >= 4


def test_a_non_native_english_speaker_and_a_non_english_language_are_included():
    assert any(item.language == "en" and not item.native for item in SPEECH)
    assert any(item.language != "en" for item in SPEECH)


def test_a_noise_item_expects_no_words():
    noise = [item for item in ITEMS if not item.reference]
    assert noise and all(not item.speakers for item in noise)


def test_the_readme_names_every_file_and_licence():
    readme = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    for item in ITEMS:
        assert item.file in readme
        assert item.licence.split(" (")[0] in readme


def test_the_corpus_folder_stays_small():
    assert sum(path.stat().st_size for path in CORPUS_DIR.rglob("*")) < 4.5 * 2**20


def test_wav_path_writes_16_bit_16_khz_mono_once(tmp_path):
    item = min(ITEMS, key=lambda item: item.seconds)
    path = wav_path(item, tmp_path)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert abs(wav.getnframes() / 16000 - item.seconds) < 0.2
    written = path.stat().st_mtime_ns
    assert wav_path(item, tmp_path) == path
    assert path.stat().st_mtime_ns == written


def test_normalise_drops_case_punctuation_and_apostrophes_but_keeps_accents():
    assert normalise('It\'s the "forty-two line" Bible, ¿verdad?') == [
        "its",
        "the",
        "forty",
        "two",
        "line",
        "bible",
        "verdad",
    ]
    assert normalise("Él está aquí.") == ["él", "está", "aquí"]


def test_normalise_counts_each_chinese_or_japanese_character_as_a_word():
    assert normalise("我在这一个讲堂中，便须常常。") == list("我在这一个讲堂中便须常常")
    assert normalise("聞き流す訳に、行かなかった。") == list("聞き流す訳に行かなかった")
    assert normalise("Whisper 的 base 模型") == ["whisper", "的", "base", "模", "型"]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("the cat sat", "The cat sat.", 0.0),
        ("the cat sat", "the cat sat down", 1 / 3),
        ("the cat sat", "the sat", 1 / 3),
        ("the cat sat", "a cat sat", 1 / 3),
        ("the cat sat on the mat", "cat sat on a mat today", 3 / 6),
        ("one two", "", 1.0),
        ("fourteen fifty-five", "1455", 1.0),
        ("", "", 0.0),
        ("", "thank you", 2.0),
    ],
)
def test_word_error_rate_counts_edits_over_reference_words(reference, hypothesis, expected):
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)
