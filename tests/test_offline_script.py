"""Chinese in the script its language code asks for: recognised text, translations, choices."""

from __future__ import annotations

import pytest

from captions.engines.base import SessionConfig
from captions.engines.offline import OfflineEngine, speech, translation
from captions.engines.offline.decoder import DecodeOptions, clean
from captions.engines.offline.languages import normalize_language
from captions.engines.offline.script import conversion, to_script
from captions.engines.offline.translation import Router, Translator
from captions.forms import EventForm
from captions.models import Event

TRADITIONAL = "我們正在開會，請關掉手機。"
SIMPLIFIED = "我们正在开会，请关掉手机。"


def test_a_traditional_sentence_becomes_simplified_for_zh_and_zh_hans():
    """zh and zh-Hans mean simplified, whatever script Whisper wrote."""
    assert to_script(TRADITIONAL, "zh") == SIMPLIFIED
    assert to_script(TRADITIONAL, "zh-Hans") == SIMPLIFIED


def test_zh_hant_keeps_traditional_and_turns_simplified_into_traditional():
    """zh-Hant means traditional."""
    assert to_script(TRADITIONAL, "zh-Hant") == TRADITIONAL
    assert to_script(SIMPLIFIED, "zh-Hant") == TRADITIONAL


def test_other_languages_are_untouched():
    """Only Chinese changes: Japanese kanji and English stay as they are."""
    assert to_script("會議室で話します", "ja") == "會議室で話します"
    assert to_script(TRADITIONAL, "en") == TRADITIONAL
    assert to_script("", "zh") == ""


def test_a_script_subtag_wins_over_a_region_that_usually_means_the_other_script():
    """zh-TW and zh-HK are traditional, unless the tag names Hans."""
    codes = ["zh", "zh-Hans", "zh-Hant", "zh_TW", "zh-HK", "zh-Hans-TW", "zh-Hant-CN", "pt-BR"]
    assert [conversion(code) for code in codes] == [
        *("t2s", "t2s", "s2t", "s2t", "s2t", "t2s", "s2t"),
        None,
    ]


def test_decoded_text_is_written_in_the_asked_script():
    """Whisper hears zh; its traditional text comes out in the event's script."""
    assert clean(TRADITIONAL, DecodeOptions("zh-Hans")) == SIMPLIFIED
    assert clean(TRADITIONAL, DecodeOptions("zh-Hant")) == TRADITIONAL
    assert normalize_language("zh-Hant") == "zh"


def test_whisper_translation_into_english_is_not_converted():
    """The translate task writes English: no script conversion applies."""
    assert clean("We are in a meeting.", DecodeOptions("zh", task="translate")) == (
        "We are in a meeting."
    )


class TraditionalChinese(Translator):
    """A translator from English into Chinese that writes traditional characters."""

    name = "fake-zh"

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset({("en", "zh")})

    def translate(self, text: str, source: str, target: str) -> str:
        return TRADITIONAL


class NoVoices:
    """A synthesizer with no voice."""

    def languages(self) -> frozenset[str]:
        return frozenset()


@pytest.fixture
def offline(monkeypatch) -> OfflineEngine:
    """The offline engine with a fake translator and no voices (no model is loaded)."""
    router = Router([TraditionalChinese()])
    monkeypatch.setattr(translation, "get_translator", lambda: router)
    monkeypatch.setattr(speech, "get_synthesizer", lambda: NoVoices())
    return OfflineEngine()


def test_translations_into_chinese_come_in_each_targets_script(offline):
    """One translation into zh serves zh-Hans in simplified and zh-Hant in traditional."""
    config = SessionConfig(source_language="en", target_languages=("zh-Hans", "zh-Hant", "zh"))
    assert offline.translate("We are in a meeting.", config) == {
        "zh-Hans": SIMPLIFIED,
        "zh-Hant": TRADITIONAL,
        "zh": SIMPLIFIED,
    }


def test_a_chinese_talk_can_be_read_in_the_other_script(offline):
    """A zh-Hans talk offers zh-Hant, which is the recognised text converted."""
    config = SessionConfig(source_language="zh-Hans", target_languages=("zh-Hant",))
    assert offline.translate(SIMPLIFIED, config) == {"zh-Hant": TRADITIONAL}


def test_the_engine_offers_both_scripts_wherever_it_offers_chinese(offline):
    """zh-Hans and zh-Hant are spoken languages, and targets wherever zh is one."""
    support = offline.language_support()
    assert {"zh", "zh-Hans", "zh-Hant"} <= set(support.sources)
    assert {"zh", "zh-Hans", "zh-Hant"} <= support.targets_for("en")
    assert "zh-Hant" in support.targets_for("zh-Hans")
    assert "zh-Hans" not in support.targets_for("zh-Hans")


@pytest.mark.django_db
def test_an_organizer_can_choose_traditional_chinese_as_the_spoken_language(offline, settings):
    """The event form takes zh-Hant with the offline engine, labelled by Django's name."""
    from captions.engines import reset_engine

    settings.CAPTION_ENGINE = {"BACKEND": "local"}
    reset_engine()
    data = {"title": "Talk", "slug": "zhhant1", "source_language": "zh-Hant"}
    form = EventForm(data={**data, "profanity": "masked", "status": "waiting"})
    assert form.is_valid(), form.errors
    assert ("zh-Hant", "zh-Hant — Traditional Chinese (繁體中文)") in form.fields[
        "source_language"
    ].choices
    assert isinstance(form.save(), Event)
