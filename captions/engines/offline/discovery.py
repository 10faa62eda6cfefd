"""Finding models and voices: paths a setting names, files a package ships, which serves what.

Bergamot model directories, Piper voices and the Whisper weights all come from the same two
places: paths the user lists in a setting, and data inside an installed Python package.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TypeVar

from captions.config import paths, setting

logger = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)


def configured_paths(name: str) -> list[str]:
    """Return the paths a setting lists (or its environment variable, ``os.pathsep``-separated)."""
    return paths(setting(name))


def package_data(package: str, *parts: str) -> Path | None:
    """Return a path inside an installed package, or None if the package is not installed."""
    try:
        return Path(str(importlib.resources.files(package).joinpath(*parts)))
    except ModuleNotFoundError:
        return None


def index_paths(
    candidates: Iterable[Path | str], identify: Callable[[Path], Key | None], kind: str
) -> dict[Key, Path]:
    """Map what ``identify`` reads from each candidate to its path; earlier candidates win."""
    found: dict[Key, Path] = {}
    for candidate in map(Path, candidates):
        key = identify(candidate)
        if key is None:
            logger.warning("Ignoring %s: not %s", candidate, kind)
            continue
        found.setdefault(key, candidate)
    return found
