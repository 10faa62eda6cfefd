"""Engine selection: one engine per process, chosen by dotted path in settings."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Engine, SessionConfig

logger = logging.getLogger(__name__)

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


def preload() -> threading.Thread | None:
    """Prepare the engine in a background thread, as the server process starts.

    The models then load while nobody waits (a fresh server's first "start" was answered
    1.6-2.5 s late without it, bench/browser_latency.py); a presenter's connection prepares
    its own event's languages too (``Engine.prepare``). Off with ``ENGINE_PRELOAD=false``.
    Returns the thread, if any.
    """
    if not settings.ENGINE_PRELOAD:
        return None

    def load() -> None:
        try:
            asyncio.run(get_engine().prepare(SessionConfig("en", ())))
        except Exception:  # the first "start" loads what is missing, and says what failed
            logger.warning("could not preload the caption engine", exc_info=True)

    thread = threading.Thread(target=load, name="engine-preload", daemon=True)
    thread.start()
    return thread
