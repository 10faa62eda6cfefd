"""Translation backends and the router, against the real Apertium and Bergamot engines."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from captions.translate import Router, TranslationError, get_translator
from captions.translate.apertium import ApertiumTranslator, parse_mode
from captions.translate.apertium_stream import decode, encode
from captions.translate.bergamot import BergamotTranslator, bundled_dirs, direction, parse_setting

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def apertium():
    translator = ApertiumTranslator()
    yield translator
    translator.close()


@pytest.fixture(scope="module")
def bergamot():
    return BergamotTranslator()


def words(text: str) -> set[str]:
    return {word.strip(".,;:!?¡¿").lower() for word in text.split()}


def test_apertium_mode_names_become_iso_639_1_pairs():
    """Plain mode names map to ISO 639-1 pairs; variants and debug modes are left out."""
    assert parse_mode("eng-spa") == ("en", "es")
    assert parse_mode("en-eo") == ("en", "eo")
    assert parse_mode("eng-cat_valencia") is None
    assert parse_mode("en-eo-bytecode") is None
    assert parse_mode("eco-es-fr") is None


def test_apertium_stream_escapes_special_characters_and_drops_marks():
    """Stream syntax in the input is escaped, and unknown-word marks leave the output."""
    assert encode("a [b] ^c$") == b"a \\[b\\] \\^c\\$.[]\0"
    assert decode(b"Hola *Mundo #hay \\[b\\] ..[]\0") == "Hola Mundo hay [b]."


def test_apertium_discovers_the_installed_debian_pairs(apertium):
    """The Debian packages installed here offer English into Spanish, Catalan and Galician."""
    assert {("en", "es"), ("en", "ca"), ("en", "gl"), ("es", "en")} <= apertium.pairs()


def test_apertium_translates_english_into_spanish(apertium):
    """A simple English sentence comes out with the expected Spanish words."""
    result = apertium.translate("Hello world, the house is big.", "en", "es")
    assert {"hola", "mundo", "casa", "grande"} <= words(result)


def test_apertium_keeps_stream_syntax_in_the_text_as_plain_text(apertium):
    """Brackets and dollar signs in a caption do not break the warm pipeline."""
    assert "[" in apertium.translate("See [page] for $5 ^now", "en", "es")
    assert "casa" in words(apertium.translate("The house.", "en", "es"))


def test_apertium_pipeline_restarts_after_its_processes_die(apertium):
    """A pipeline whose processes were killed is started again on the next call."""
    apertium.translate("Good morning.", "en", "es")
    pipeline = apertium._pipelines[("en", "es")]
    os.killpg(pipeline._process.pid, signal.SIGKILL)
    pipeline._process.wait()
    assert "buenos" in words(apertium.translate("Good morning.", "en", "es"))


def test_apertium_pipelines_are_safe_from_many_threads(apertium):
    """Concurrent calls on one pair each get their own sentence's translation."""
    sentences = ["The house.", "The dog.", "The cat.", "The book."] * 3
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: apertium.translate(s, "en", "es"), sentences))
    assert results[:4] == ["La casa.", "El perro.", "El gato.", "El libro."]
    assert results[4:8] == results[:4]


def test_bergamot_reads_the_direction_from_model_file_names():
    """`model.enes.intgemm.alphas.bin` names a model from English into Spanish."""
    assert direction(["vocab.enes.spm", "model.enes.intgemm.alphas.bin"]) == ("en", "es")
    assert direction(["config.yml"]) is None
    assert parse_setting(" /a, /b ,") == [Path("/a"), Path("/b")]


def test_bergamot_translates_english_into_portuguese(bergamot):
    """The bundled model turns English into Portuguese."""
    result = bergamot.translate("Good morning, welcome to the conference.", "en", "pt")
    assert {"bom", "conferência"} <= words(result)


def test_bergamot_loads_model_directories_named_in_the_setting(tmp_path, settings):
    """A directory named in CAPTION_BERGAMOT_MODELS is used and its direction read."""
    for file in next(path for path in bundled_dirs() if "enpt" in path.name).iterdir():
        os.symlink(file, tmp_path / file.name)
    settings.CAPTION_BERGAMOT_MODELS = str(tmp_path)
    translator = BergamotTranslator()
    assert translator._models[("en", "pt")] == tmp_path
    assert "obrigado" in words(translator.translate("Thank you.", "en", "pt"))


def test_bergamot_is_safe_from_many_threads(bergamot):
    """Concurrent calls from several threads all get a translation."""
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: bergamot.translate("Thank you.", "en", "pt"), range(8)))
    assert all("obrigad" in result.lower() for result in results)


def test_router_prefers_bergamot_where_both_backends_have_the_pair(apertium, bergamot):
    """With both backends offering a pair, the first (Bergamot) is chosen."""
    router = Router([bergamot, apertium])
    assert router.route("en", "pt")[0][0] is bergamot
    assert router.route("en", "es")[0][0] is apertium


def test_router_pivots_portuguese_into_spanish_through_english(apertium, bergamot):
    """Without a direct pair, pt->es runs Bergamot into English, then Apertium into Spanish."""
    direct_only = Router([bergamot, apertium])
    direct_only._direct.pop(("pt", "es"), None)  # as on a machine without apertium-es-pt
    legs = direct_only.route("pt", "es")
    assert [(backend, s, t) for backend, s, t in legs] == [
        (bergamot, "pt", "en"),
        (apertium, "en", "es"),
    ]
    result = direct_only.translate("Bom dia a todos, bem-vindos à conferência.", "pt", "es")
    assert {"bienvenido", "conferencia"} & words(result)


def test_router_pivots_portuguese_into_catalan_through_english(apertium, bergamot):
    """pt->ca has no direct pair here and goes through English."""
    router = Router([bergamot, apertium])
    assert [(s, t) for _, s, t in router.route("pt", "ca")] == [("pt", "en"), ("en", "ca")]
    assert "bon" in words(router.translate("Bom dia a todos.", "pt", "ca"))


@pytest.mark.skipif(
    ("pt", "es") not in ApertiumTranslator().pairs(), reason="apertium-es-pt not installed"
)
def test_router_prefers_a_direct_pair_to_a_pivot(apertium, bergamot):
    """With apertium-es-pt installed, pt->es is one Apertium step (better than the pivot)."""
    router = Router([bergamot, apertium])
    assert [(s, t) for _, s, t in router.route("pt", "es")] == [("pt", "es")]
    assert "conferencia" in words(router.translate("Bem-vindos à conferência.", "pt", "es"))


def test_router_offers_the_source_language_and_every_reachable_target():
    """English reaches Spanish, Portuguese and itself; supported_targets loads no model."""
    translator = get_translator()
    assert {"en", "es", "pt", "ca", "gl"} <= translator.supported_targets("en")
    assert "es" in translator.supported_targets("pt")
    assert ("pt", "es") in translator.pairs()


def test_router_returns_the_text_unchanged_when_source_and_target_match():
    """Identity needs no backend."""
    assert get_translator().translate("Hello there", "en", "en") == "Hello there"


def test_router_raises_a_permanent_error_for_an_unknown_pair():
    """A pair no backend reaches, even through a pivot, is refused for good."""
    with pytest.raises(TranslationError) as error:
        get_translator().translate("Hello", "en", "ja")
    assert error.value.permanent
    assert "ja" not in get_translator().supported_targets("en")


def test_router_returns_empty_text_unchanged():
    """Blank captions are not sent to any backend."""
    assert get_translator().translate("  ", "en", "es") == "  "
