"""Choose a backend per language pair, pivot through English or another language, apply glossary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..languages import normalize_language
from .base import TranslationError, Translator
from .cache import LRUCache
from .glossary import Glossary, translate_with_glossary

PIVOT = "en"
# Each backend pipeline serves one request at a time; different targets go through different
# pipelines (Apertium's are separate processes), so a caption's targets run side by side.
_targets_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="translate")


@dataclass(frozen=True)
class Leg:
    """One direct translation step done by one backend."""

    backend: Translator
    source: str
    target: str


def direct_pairs(backends: Sequence[Translator]) -> dict[tuple[str, str], Translator]:
    """Map each pair to the first backend (in priority order) that translates it directly."""
    chosen: dict[tuple[str, str], Translator] = {}
    for backend in backends:
        for pair in backend.pairs():
            chosen.setdefault(pair, backend)
    return chosen


def plan(
    direct: Mapping[tuple[str, str], Translator], source: str, target: str, pivot: str = PIVOT
) -> tuple[Leg, ...] | None:
    """Return the legs from ``source`` to ``target``: none, one, or two through a pivot.

    English is the preferred pivot (most models go through it); otherwise the first
    language, in alphabetical order, that both legs reach (en->es->fr with Apertium).
    """
    if source == target:
        return ()
    if (source, target) in direct:
        return (Leg(direct[source, target], source, target),)
    languages = sorted({lang for pair in direct for lang in pair} - {source, target, pivot})
    for middle in (pivot, *languages):
        first, second = direct.get((source, middle)), direct.get((middle, target))
        if first is not None and second is not None:
            return (Leg(first, source, middle), Leg(second, middle, target))
    return None


class Router:
    """The process-wide translator: best backend per pair, English pivot, glossary."""

    def __init__(self, backends: Sequence[Translator], cache_size: int = 1024) -> None:
        self.backends = tuple(backends)
        self._cache = LRUCache(cache_size)
        self._direct = direct_pairs(self.backends)
        languages = {lang for pair in self._direct for lang in pair}
        self._routes = {
            (s, t): legs
            for s in languages
            for t in languages
            if s != t and (legs := plan(self._direct, s, t)) is not None
        }

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Return every (source, target) pair translatable directly or through a pivot."""
        return frozenset(self._routes)

    def supported_targets(self, source: str) -> frozenset[str]:
        """Return the languages ``source`` can be translated into, ``source`` itself included."""
        source = normalize_language(source)
        return frozenset({source} | {t for s, t in self._routes if s == source})

    def supports(self, source: str, target: str) -> bool:
        """Return whether ``source`` translates into ``target`` (BCP 47 tags accepted)."""
        return normalize_language(target) in self.supported_targets(source)

    def route(self, source: str, target: str) -> tuple[Leg, ...]:
        """Return the legs used for a pair; raise a permanent TranslationError if none."""
        source, target = normalize_language(source), normalize_language(target)
        if source == target:
            return ()
        if (source, target) not in self._routes:
            raise TranslationError(f"No translation from {source} to {target}", permanent=True)
        return self._routes[source, target]

    def translate(
        self, text: str, source: str, target: str, glossary: Glossary | None = None
    ) -> str:
        """Translate one caption, keeping glossary terms or rendering them for ``target``."""
        legs = self.route(source, target)
        if not glossary:
            return self._run(legs, text)
        return translate_with_glossary(lambda t: self._run(legs, t), text, glossary, target)

    def translate_many(
        self, text: str, source: str, targets: Iterable[str], glossary: Glossary | None = None
    ) -> dict[str, str]:
        """Translate one caption into several languages side by side.

        A pivot leg that two targets share is cached, but may run twice when both reach it
        at the same moment.
        """
        targets = list(targets)
        if len(targets) < 2:
            return {target: self.translate(text, source, target, glossary) for target in targets}
        done = _targets_pool.map(lambda t: self.translate(text, source, t, glossary), targets)
        return dict(zip(targets, done, strict=True))

    def warm_up(self, source: str, targets: Iterable[str]) -> None:
        """Load the models and start the pipelines a session will use; call it off the loop."""
        for target in targets:
            if self.supports(source, target):
                for leg in self.route(source, target):
                    leg.backend.translate("1.", leg.source, leg.target)

    def _run(self, legs: tuple[Leg, ...], text: str) -> str:
        # Each leg is cached: streaming repeats prefixes, and pivots share their first leg.
        for leg in legs:
            key = (leg.backend.name, leg.source, leg.target, text)
            cached = self._cache.get(key)
            if cached is None:
                cached = leg.backend.translate(text, leg.source, leg.target)
                self._cache.put(key, cached)
            text = cached
        return text

    def close(self) -> None:
        """Close every backend."""
        for backend in self.backends:
            backend.close()
