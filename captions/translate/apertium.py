"""Apertium rule-based translation from Debian's packages, one warm pipeline per pair."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
from functools import cached_property
from pathlib import Path

from .apertium_stream import decode, encode
from .base import Pair, TranslationError, unsupported

logger = logging.getLogger(__name__)

MODES_DIR = Path("/usr/share/apertium/modes")
TIMEOUT = 10.0
MAX_BYTES = 32_000  # stays under a pipe's buffer, so writing never waits for reading

# Apertium names languages with ISO 639-3 (newer pairs) or 639-1 (older ones).
ISO_639_1 = {
    "eng": "en", "spa": "es", "cat": "ca", "glg": "gl", "epo": "eo", "fra": "fr",
    "por": "pt", "ita": "it", "ron": "ro", "oci": "oc", "eus": "eu", "deu": "de",
    "nld": "nl", "arg": "an", "ast": "ast", "afr": "af", "dan": "da", "nob": "nb",
    "nno": "nn", "swe": "sv", "isl": "is", "mlt": "mt", "ara": "ar", "cym": "cy",
    "bre": "br", "gle": "ga", "srd": "sc", "rus": "ru", "ukr": "uk", "bel": "be",
    "pol": "pl", "ces": "cs", "slk": "sk", "slv": "sl", "bul": "bg", "mkd": "mk",
    "tat": "tt", "kaz": "kk", "kir": "ky", "tur": "tr", "hin": "hi", "urd": "ur",
    "ind": "id", "msa": "ms", "fin": "fi", "sme": "se", "est": "et", "lit": "lt",
}  # fmt: skip


# The app's `pt` is Brazilian Portuguese (as the bundled Bergamot model is).
PREFERRED_MODES = {("es", "pt"): "es-pt_BR"}


def language(code: str) -> str | None:
    """Return the app's code for an Apertium language code, or None if it has none."""
    if len(code) == 2 and code.isalpha() and code.islower():
        return code
    return ISO_639_1.get(code)


def parse_mode(name: str) -> Pair | None:
    """Return the pair of a plain mode name such as `eng-spa`; None for variants and debug modes."""
    parts = name.split("-")
    if len(parts) != 2:
        return None
    source, target = (language(part) for part in parts)
    return (source, target) if source and target and source != target else None


def discover(modes_dir: Path = MODES_DIR) -> dict[Pair, Path]:
    """Map each installed pair to its mode file, preferring the variants the app means."""
    modes: dict[Pair, Path] = {}
    for path in sorted(modes_dir.glob("*.mode")):
        pair = parse_mode(path.stem)
        if pair:
            modes.setdefault(pair, path)
    for pair, name in PREFERRED_MODES.items():
        if (modes_dir / f"{name}.mode").is_file():
            modes[pair] = modes_dir / f"{name}.mode"
    return modes


class Pipeline:
    """One long-lived chain of Apertium processes in null-flush mode, one text at a time."""

    def __init__(self, mode: Path) -> None:
        self.mode = mode
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def translate(self, text: str) -> str:
        """Return the translation of `text`, starting the chain on first use."""
        unit = encode(text)
        if len(unit) > MAX_BYTES:
            raise TranslationError("text too long for one Apertium call", permanent=True)
        with self._lock:
            try:
                return decode(self._exchange(unit))
            except (OSError, subprocess.SubprocessError, TranslationError) as error:
                self._stop()
                message = f"apertium {self.mode.stem}: {error}"
                raise TranslationError(message, permanent=False) from error

    def _exchange(self, unit: bytes) -> bytes:
        if self._process and self._process.poll() is not None:
            logger.warning("Apertium pipeline %s had exited; restarting", self.mode.stem)
            self._stop()
        process = self._process or self._start()
        process.stdin.write(unit)
        process.stdin.flush()
        return self._read_unit(process.stdout.fileno())

    def _read_unit(self, fd: int) -> bytes:
        chunks = b""
        while not chunks.endswith(b"\0"):
            if not select.select([fd], [], [], TIMEOUT)[0]:
                raise TranslationError("timed out", permanent=False)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise TranslationError("pipeline exited", permanent=False)
            chunks += chunk
        return chunks

    def _start(self) -> subprocess.Popen[bytes]:
        chain = subprocess.run(
            ["apertium-wblank-mode", "-z", str(self.mode)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        # $1 is the generator's flag (-n: no unknown-word marks), $2 the tagger's (none).
        self._process = subprocess.Popen(
            ["bash", "-c", chain, "apertium", "-n", ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            start_new_session=True,  # its own process group, so _stop ends the whole chain
        )  # fmt: skip
        logger.info("Started Apertium pipeline %s", self.mode.stem)
        return self._process

    def _stop(self) -> None:
        if self._process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None

    def close(self) -> None:
        """Stop the processes; the next call starts them again."""
        with self._lock:
            self._stop()


class ApertiumTranslator:
    """Translate with the Apertium pairs installed from Debian."""

    def __init__(self, modes_dir: Path = MODES_DIR) -> None:
        self.modes_dir = modes_dir
        self._pipelines: dict[Pair, Pipeline] = {}
        self._lock = threading.Lock()

    @cached_property
    def _modes(self) -> dict[Pair, Path]:
        if not shutil.which("apertium-wblank-mode") or not self.modes_dir.is_dir():
            return {}
        return discover(self.modes_dir)

    def pairs(self) -> frozenset[Pair]:
        """Return the installed pairs in the app's language codes."""
        return frozenset(self._modes)

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate through the pair's warm pipeline."""
        if not text.strip():
            return ""
        return self._pipeline((source, target)).translate(text)

    def _pipeline(self, pair: Pair) -> Pipeline:
        if pair not in self._modes:
            raise unsupported(*pair)
        with self._lock:
            if pair not in self._pipelines:
                self._pipelines[pair] = Pipeline(self._modes[pair])
            return self._pipelines[pair]

    def close(self) -> None:
        """Stop every pipeline."""
        for pipeline in list(self._pipelines.values()):
            pipeline.close()
