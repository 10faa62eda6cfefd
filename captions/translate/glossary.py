"""Glossary terms kept through translation behind placeholders; pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

# term -> language -> rendering; a language without a rendering keeps the term as written.
Glossary = Mapping[str, Mapping[str, str]]

# Letters, then a number: Apertium and Bergamot both pass `XQ0` through unchanged (tested).
PLACEHOLDER = "XQ{}"
_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9])XQ(\d+)(?![0-9])", re.IGNORECASE)


def _pattern(glossary: Glossary) -> re.Pattern[str] | None:
    terms = sorted((term for term in glossary if term.strip()), key=len, reverse=True)
    if not terms:
        return None
    alternatives = "|".join(re.escape(term) for term in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def protect(text: str, glossary: Glossary) -> tuple[str, list[str]]:
    """Replace each glossary term in `text` by a placeholder; return the text and the terms."""
    pattern = _pattern(glossary)
    if pattern is None:
        return text, []
    canonical = {term.casefold(): term for term in glossary}
    found: list[str] = []

    def replace(match: re.Match[str]) -> str:
        found.append(canonical[match.group(0).casefold()])
        return PLACEHOLDER.format(len(found) - 1)

    return pattern.sub(replace, text), found


def rendering(term: str, language: str, glossary: Glossary) -> str:
    """Return the organizer's rendering of `term` in `language`, else the term itself."""
    renderings = glossary.get(term, {})
    return renderings.get(language) or renderings.get(language.split("-")[0]) or term


def restore(text: str, terms: Sequence[str], language: str, glossary: Glossary) -> str:
    """Put each term, rendered for `language`, back where its placeholder came through."""

    def replace(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number >= len(terms):
            return match.group(0)
        return rendering(terms[number], language, glossary)

    return _PLACEHOLDER.sub(replace, text)


def translate_with(
    translate: Callable[[str], str], text: str, target: str, glossary: Glossary | None
) -> str:
    """Translate `text` with `translate`, keeping the glossary's terms."""
    if not glossary:
        return translate(text)
    protected, terms = protect(text, glossary)
    if not terms:
        return translate(text)
    return restore(translate(protected), terms, target, glossary)
