"""captions/relay.py's pure part: which languages a caption goes to, and in what words."""

from __future__ import annotations

import pytest

from captions.engines.base import CaptionResult, ResultKind
from captions.relay import caption_texts

pytestmark = pytest.mark.timeout(10)


def result(kind: ResultKind, text: str, translations: dict[str, str]) -> CaptionResult:
    return CaptionResult(kind, "w1", text, translations, 0.0, 1.0)


def test_a_partial_reaches_only_the_languages_it_is_translated_into():
    """The first partial of an utterance has nothing agreed, so nothing translated: Spanish
    and Portuguese readers must not see the speaker's English meanwhile."""
    first = result(ResultKind.PARTIAL, "I'm sure", {})
    assert caption_texts(first, "en", ["es", "pt"]) == {"en": "I'm sure"}
    later = result(ResultKind.PARTIAL, "I'm sure all schools", {"es": "Estoy seguro"})
    assert caption_texts(later, "en", ["es", "pt"]) == {
        "en": "I'm sure all schools",
        "es": "Estoy seguro",
    }


def test_a_final_reaches_every_language_untranslated_rather_than_not_at_all():
    final = result(ResultKind.FINAL, "I'm sure all schools would accept that.", {"es": "Sí."})
    assert caption_texts(final, "en", ["es", "pt"]) == {
        "en": "I'm sure all schools would accept that.",
        "es": "Sí.",
        "pt": "I'm sure all schools would accept that.",
    }
