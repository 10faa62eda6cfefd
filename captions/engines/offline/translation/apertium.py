"""Apertium (rule-based, from Debian) through one persistent null-flush pipeline per pair.

Starting ``apertium`` per sentence costs about 100 ms; a pipeline whose stages all
run in null-flush mode (``-z``) stays warm and answers a sentence in a few ms.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from .base import TranslationError, Translator

logger = logging.getLogger(__name__)

DEFAULT_MODES_DIR = Path("/usr/share/apertium/modes")
TIMEOUT_SECONDS = 10.0
MAX_CHARS = 8_000  # a caption is a sentence or a few

# Apertium names languages with ISO 639-3 or 639-1 codes; the app uses 639-1.
ISO_639_1 = {
    "eng": "en", "spa": "es", "cat": "ca", "glg": "gl", "epo": "eo", "fra": "fr",
    "por": "pt", "ita": "it", "ron": "ro", "oci": "oc", "arg": "an", "ast": "ast",
    "eus": "eu", "deu": "de", "nld": "nl", "afr": "af", "dan": "da", "nob": "nb",
    "nno": "nn", "swe": "sv", "isl": "is", "fao": "fo", "bel": "be", "rus": "ru",
    "ukr": "uk", "pol": "pl", "ces": "cs", "slk": "sk", "slv": "sl", "hbs": "sh",
    "mkd": "mk", "bul": "bg", "eng_US": "en",
}  # fmt: skip

_ESCAPED = re.compile(r"([\\\[\]^$/<>@{}])")
# In the output stream, user text keeps its backslash escapes, while Apertium's own
# marks (unknown word *, generation error #, untranslated @) and blanks [...] do not.
_OUTPUT_TOKEN = re.compile(r"\\(.)|\[(?:\\.|[^\]\\])*\]|[*#@~]", re.DOTALL)
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def language_code(apertium_code: str) -> str | None:
    """Return the ISO 639-1 code for an Apertium language code, or None if unknown."""
    if len(apertium_code) == 2 and apertium_code.isalpha():
        return apertium_code
    return ISO_639_1.get(apertium_code)


def pair_from_mode(mode_name: str) -> tuple[str, str] | None:
    """Return (source, target) for a plain mode name like ``eng-spa``; None for variants."""
    parts = mode_name.split("-")
    if len(parts) != 2 or "_" in mode_name:
        return None
    source, target = (language_code(part) for part in parts)
    if source is None or target is None or source == target:
        return None
    return source, target


def discover_modes(modes_dir: Path = DEFAULT_MODES_DIR) -> dict[tuple[str, str], Path]:
    """Map each installed pair to its ``.mode`` file."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(modes_dir.glob("*.mode")):
        pair = pair_from_mode(path.stem)
        if pair is not None:
            found.setdefault(pair, path)
    return found


def encode_input(text: str) -> bytes:
    """Return one request for the pipeline: escaped text, a closing blank, a NUL flush."""
    # NUL ends a request in null-flush mode, so it must not come from the text.
    line = _SPACES.sub(" ", text.replace("\0", " ")).strip()
    # The trailing blank lets the first stage release a sentence-final period at once.
    return _ESCAPED.sub(r"\\\1", line).encode() + b"[]\0"


def decode_output(raw: bytes) -> str:
    """Return plain text from the pipeline's output, without Apertium's marks."""
    text = _OUTPUT_TOKEN.sub(lambda m: m.group(1) or "", raw.decode(errors="replace"))
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()


class _Pipeline:
    """One warm ``bash`` pipeline for one mode, serving one request at a time."""

    def __init__(self, mode: Path) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        script = subprocess.run(
            ["apertium-wblank-mode", "-z", str(self.mode)],
            capture_output=True, text=True, check=True, timeout=TIMEOUT_SECONDS,
        ).stdout  # fmt: skip
        # $1 is the generator option (-n: no unknown-word marks), $2 the tagger option.
        argv = ["bash", "-c", script, "apertium", "-n", ""]
        logger.info("Starting Apertium pipeline %s", self.mode.stem)
        return subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def request(self, payload: bytes) -> bytes:
        """Send one NUL-terminated request and return the reply without its NUL."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._started()
            try:
                return self._exchange(self._process, payload)
            except (OSError, TimeoutError) as exc:
                self._stop()
                message = f"Apertium {self.mode.stem}: {exc}"
                raise TranslationError(message, permanent=False) from exc

    def _started(self) -> subprocess.Popen[bytes]:
        try:
            return self._start()
        except (OSError, subprocess.SubprocessError) as exc:
            message = f"Cannot start Apertium {self.mode.stem}: {exc}"
            raise TranslationError(message, permanent=True) from exc

    @staticmethod
    def _exchange(process: subprocess.Popen[bytes], payload: bytes) -> bytes:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(payload)
        process.stdin.flush()
        reply = bytearray()
        while not reply.endswith(b"\0"):
            if not select.select([process.stdout], [], [], TIMEOUT_SECONDS)[0]:
                raise TimeoutError("no reply")
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise OSError("pipeline exited")
            reply += chunk
        return bytes(reply[:-1])

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        """Stop the pipeline's processes."""
        with self._lock:
            self._stop()


class ApertiumTranslator(Translator):
    """Translate with the Apertium pairs installed on this machine."""

    name = "apertium"

    def __init__(self, modes: Mapping[tuple[str, str], Path] | None = None) -> None:
        if modes is None:
            modes = discover_modes() if available() else {}
        self._pipelines = {pair: _Pipeline(path) for pair, path in modes.items()}

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Return the installed pairs in ISO 639-1 codes."""
        return frozenset(self._pipelines)

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate one caption (a sentence or a few)."""
        self.check_pair(source, target)
        if not text.strip():
            return ""
        if len(text) > MAX_CHARS:
            # The whole request is written before the reply is read: keep it within pipe buffers.
            raise TranslationError(f"Text over {MAX_CHARS} characters", permanent=True)
        return decode_output(self._pipelines[source, target].request(encode_input(text)))

    def close(self) -> None:
        """Stop every pipeline."""
        for pipeline in self._pipelines.values():
            pipeline.close()


def available() -> bool:
    """Return whether the Apertium tools are installed."""
    return all(shutil.which(tool) for tool in ("apertium-wblank-mode", "lt-proc", "bash"))
