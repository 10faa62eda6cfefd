"""Glossary terms: protected by placeholders, then restored as the organizer gave them."""

from __future__ import annotations

import pytest

from captions.translate import Router
from captions.translate.apertium import ApertiumTranslator
from captions.translate.bergamot import BergamotTranslator
from captions.translate.glossary import protect, restore, translate_with

pytestmark = pytest.mark.timeout(60)

GLOSSARY = {
    "Kubernetes": {},
    "pull request": {"es": "pull request", "pt": "PR"},
    "Live Captions": {"es": "Subtítulos en Vivo"},
}


@pytest.fixture(scope="module")
def router():
    apertium = ApertiumTranslator()
    yield Router([BergamotTranslator(), apertium])
    apertium.close()


def test_terms_are_replaced_by_numbered_placeholders_case_insensitively():
    """Each occurrence of a term, whatever its case, becomes the next placeholder."""
    text, terms = protect("Open a Pull Request on kubernetes today.", GLOSSARY)
    assert text == "Open a XQ0 on XQ1 today."
    assert terms == ["pull request", "Kubernetes"]


def test_terms_match_whole_words_only():
    """A term inside a longer word is not a match."""
    assert protect("Kubernetesish stuff", GLOSSARY) == ("Kubernetesish stuff", [])


def test_the_longest_term_wins_where_terms_overlap():
    """`Live Captions` is protected as one term, not as a shorter one inside it."""
    text, terms = protect("Live Captions is live", {"Live": {}, "Live Captions": {}})
    assert (text, terms) == ("XQ0 is XQ1", ["Live Captions", "Live"])


def test_restore_uses_the_rendering_for_the_language_or_the_term():
    """A language with a rendering gets it; others get the term as the organizer wrote it."""
    terms = ["pull request", "Kubernetes", "Live Captions"]
    text = "Abra um XQ0 no xq1 com XQ2."
    assert restore(text, terms, "pt", GLOSSARY) == "Abra um PR no Kubernetes com Live Captions."
    assert restore("XQ2", terms, "es", GLOSSARY) == "Subtítulos en Vivo"


def test_restore_uses_the_base_language_for_a_regional_code():
    """`pt-BR` falls back to the rendering given for `pt`."""
    assert restore("XQ0", ["pull request"], "pt-BR", GLOSSARY) == "PR"


def test_translate_with_skips_protection_when_no_term_occurs():
    """Text without terms goes to the backend as it is."""
    assert translate_with(str.upper, "hello", "es", GLOSSARY) == "HELLO"
    assert translate_with(str.upper, "hi kubernetes", "es", GLOSSARY) == "HI Kubernetes"


def test_apertium_keeps_terms_and_renders_them_in_spanish(router):
    """English into Spanish through Apertium keeps and renders the glossary terms."""
    text = "Live Captions runs on Kubernetes and every pull request is reviewed."
    result = router.translate(text, "en", "es", glossary=GLOSSARY)
    assert "Subtítulos en Vivo" in result
    assert "Kubernetes" in result
    assert "pull request" in result
    assert "XQ" not in result.upper()


def test_bergamot_keeps_terms_and_renders_them_in_portuguese(router):
    """English into Portuguese through Bergamot keeps and renders the glossary terms."""
    text = "Live Captions runs on Kubernetes and every pull request is reviewed."
    result = router.translate(text, "en", "pt", glossary=GLOSSARY)
    assert "Live Captions" in result
    assert "Kubernetes" in result
    assert "PR" in result
    assert "XQ" not in result.upper()


def test_the_pivot_keeps_terms_through_both_backends(router):
    """Portuguese into Spanish through English keeps the terms across both legs."""
    result = router.translate("O Kubernetes é ótimo.", "pt", "es", glossary=GLOSSARY)
    assert "Kubernetes" in result
    assert "XQ" not in result.upper()
