"""Choose a backend per pair, pivot through a third language where needed, keep glossaries."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from .base import Pair, Translator, unsupported
from .glossary import Glossary, translate_with

Leg = tuple[Translator, str, str]
# Pivot languages in order of preference: English first, where most pairs meet.
PIVOTS = ("en", "es")


class Router:
    """Translate any reachable pair with the first backend (in priority order) that has it."""

    def __init__(self, backends: Sequence[Translator], pivots: Sequence[str] = PIVOTS) -> None:
        self.backends = list(backends)
        self.pivots = list(pivots)

    @cached_property
    def _direct(self) -> dict[Pair, Translator]:
        direct: dict[Pair, Translator] = {}
        for backend in self.backends:
            for pair in backend.pairs():
                direct.setdefault(pair, backend)
        return direct

    @cached_property
    def _routes(self) -> dict[Pair, list[Leg]]:
        routes = {pair: [(backend, *pair)] for pair, backend in self._direct.items()}
        for pivot in self.pivots:
            for pair, legs in self._pivoted(pivot).items():
                routes.setdefault(pair, legs)
        return routes

    def _pivoted(self, pivot: str) -> dict[Pair, list[Leg]]:
        into = {s: b for (s, t), b in self._direct.items() if t == pivot}
        out_of = {t: b for (s, t), b in self._direct.items() if s == pivot}
        return {
            (source, target): [(first, source, pivot), (second, pivot, target)]
            for source, first in into.items()
            for target, second in out_of.items()
            if source != target
        }

    def pairs(self) -> frozenset[Pair]:
        """Return every pair reachable directly or through one pivot language."""
        return frozenset(self._routes)

    def supported_targets(self, source: str) -> frozenset[str]:
        """Return the languages `source` can be captioned in, itself included; loads no model."""
        return frozenset({source} | {target for (start, target) in self._routes if start == source})

    def route(self, source: str, target: str) -> list[Leg]:
        """Return the backends and pairs a translation goes through; raise if there is none."""
        if source == target:
            return []
        if (source, target) not in self._routes:
            raise unsupported(source, target)
        return self._routes[(source, target)]

    def translate(
        self, text: str, source: str, target: str, glossary: Glossary | None = None
    ) -> str:
        """Translate `text`, keeping the glossary's terms as the organizer gave them."""
        legs = self.route(source, target)
        if not legs or not text.strip():
            return text
        return translate_with(lambda protected: self._run(legs, protected), text, target, glossary)

    @staticmethod
    def _run(legs: list[Leg], text: str) -> str:
        for backend, source, target in legs:
            text = backend.translate(text, source, target)
        return text
