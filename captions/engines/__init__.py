"""Engine selection: one engine per process, chosen by dotted path in settings."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Engine

# Short names a user can put in CAPTION_ENGINE instead of a dotted path.
ALIASES = {
    "local": "captions.engines.offline.OfflineEngine",
    # The dotted path before the offline package (issue 10): settings that name it keep working.
    "captions.engines.whisper.WhisperEngine": "captions.engines.offline.OfflineEngine",
    "azure": "captions.engines.azure.AzureEngine",
}


def resolve_backend(name: str) -> str:
    """Return the dotted path for an alias or a dotted path."""
    return ALIASES.get(name, name)


@functools.cache
def get_engine() -> Engine:
    """Return this process's engine, building it on first use from settings.CAPTION_ENGINE."""
    config = settings.CAPTION_ENGINE
    engine_class = import_string(resolve_backend(config["BACKEND"]))
    return engine_class(**config.get("OPTIONS", {}))


def reset_engine() -> None:
    """Forget the cached engine (tests that change settings call this)."""
    get_engine.cache_clear()
