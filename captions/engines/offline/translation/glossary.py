"""Glossary terms through machine translation: protect them with placeholders, then restore.

Pure logic. A glossary maps each term to its rendering per language
(``{"Contoso": {"es": "Contoso ES"}}``); a term without a rendering for the target
comes out as the organizer spelled it. Placeholders such as ``Zqx0`` were checked to
pass unchanged through Apertium and Bergamot (tests/test_translation_glossary.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..languages import normalize_language

Glossary = Mapping[str, Mapping[str, str]]

PLACEHOLDER_PREFIX = "Zqx"
_PLACEHOLDER = re.compile(rf"(?<!\w){PLACEHOLDER_PREFIX}(\d+)(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Protected:
    """Source text with glossary terms replaced by numbered placeholders."""

    text: str
    terms: tuple[str, ...]  # terms[i] is the glossary term behind placeholder i


def placeholder(index: int) -> str:
    """Return the placeholder token for the index-th protected term."""
    return f"{PLACEHOLDER_PREFIX}{index}"


def _alternative(term: str) -> str:
    # Acronyms ("US", "IT") match only in capitals, so the words "us" and "it" stay words.
    escaped = re.escape(term)
    return escaped if term.isupper() and len(term) > 1 else f"(?i:{escaped})"


def _terms_pattern(glossary: Glossary) -> re.Pattern[str] | None:
    terms = sorted((term.strip() for term in glossary if term.strip()), key=len, reverse=True)
    if not terms:
        return None
    alternatives = "|".join(map(_alternative, terms))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def protect(text: str, glossary: Glossary) -> Protected:
    """Replace each glossary term in ``text`` (whole words; any case but acronyms) by a token."""
    pattern = _terms_pattern(glossary)
    if pattern is None:
        return Protected(text, ())
    canonical = {term.strip().casefold(): term for term in glossary}
    terms: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        term = canonical[match.group(0).casefold()]
        if term not in terms:
            terms.append(term)
        return placeholder(terms.index(term))

    return Protected(pattern.sub(substitute, text), tuple(terms))


def rendering(term: str, glossary: Glossary, target: str) -> str:
    """Return how ``term`` is written in ``target``: the organizer's rendering, else the term."""
    renderings = {normalize_language(lang): text for lang, text in glossary.get(term, {}).items()}
    return renderings.get(normalize_language(target)) or term.strip()


def restore(translated: str, protected: Protected, glossary: Glossary, target: str) -> str:
    """Put each term's rendering for ``target`` back where its placeholder came through."""

    def substitute(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(protected.terms):
            return match.group(0)
        return rendering(protected.terms[index], glossary, target)

    return _PLACEHOLDER.sub(substitute, translated) if protected.terms else translated


def translate_with_glossary(
    translate: Callable[[str], str], text: str, glossary: Glossary, target: str
) -> str:
    """Protect terms, run ``translate`` on the result, restore the terms for ``target``."""
    protected = protect(text, glossary)
    return restore(translate(protected.text), protected, glossary, target)
