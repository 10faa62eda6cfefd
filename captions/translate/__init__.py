"""Text translation for captions: backends behind one interface, and a process-wide router.

from captions.translate import get_translator
get_translator().translate("Hello", "en", "es", glossary={"Django": {"es": "Django"}})
"""

from __future__ import annotations

from functools import cache

from .base import TranslationError, Translator
from .router import Router

__all__ = ["Router", "TranslationError", "Translator", "build_backends", "get_translator"]

SETTING = "CAPTION_TRANSLATION_BACKENDS"
DEFAULT_BACKENDS = (
    "captions.translate.bergamot.BergamotTranslator",
    "captions.translate.apertium.ApertiumTranslator",
)


def backend_paths() -> list[str]:
    """Return the dotted paths of the backends, best first, from settings or the default."""
    try:
        from django.conf import settings

        paths = getattr(settings, SETTING, None) if settings.configured else None
    except ImportError:
        paths = None
    return list(paths or DEFAULT_BACKENDS)


def build_backends(paths: list[str] | None = None) -> list[Translator]:
    """Instantiate the backends named by dotted paths, best first."""
    from django.utils.module_loading import import_string

    return [import_string(path)() for path in (paths or backend_paths())]


@cache
def get_translator() -> Router:
    """Return the process-wide router; models load on first use of their pair."""
    return Router(build_backends())
