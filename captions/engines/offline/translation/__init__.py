"""Text translation for captions: backends behind one interface and a process-wide router.

``get_translator()`` returns the shared :class:`Router`; language codes are ISO 639-1
(``en``, ``es``, ``pt``...), and regional tags such as ``pt-BR`` are accepted.
Bergamot model directories beyond the bundled en<->pt come from the
``CAPTION_BERGAMOT_MODELS`` setting (a list of paths; or the environment variable of
that name, paths separated by ``os.pathsep``).
"""

from __future__ import annotations

import threading

from ..discovery import configured_paths
from ..languages import normalize_language
from .base import TranslationError, Translator
from .router import Router

__all__ = [
    "Router",
    "TranslationError",
    "Translator",
    "get_translator",
    "normalize_language",
    "reset_translator",
]

_lock = threading.Lock()
_router: Router | None = None


def build_router() -> Router:
    """Create the backends in priority order: Bergamot (neural) first, then Apertium."""
    from .apertium import ApertiumTranslator
    from .bergamot import BergamotTranslator

    bergamot = BergamotTranslator(configured_paths("CAPTION_BERGAMOT_MODELS"))
    return Router([bergamot, ApertiumTranslator()])


def get_translator() -> Router:
    """Return the process-wide translator, created on first use."""
    global _router
    with _lock:
        if _router is None:
            _router = build_router()
        return _router


def reset_translator() -> None:
    """Close the shared translator so the next call builds a new one (tests, settings changes)."""
    global _router
    with _lock:
        if _router is not None:
            _router.close()
        _router = None
