"""The real-speech corpus in tests/corpus/: its manifest, its audio, and word error rate.

The corpus is for tests and benchmarks that compare the streaming engine with an offline
whole-file pass; tests/corpus/README.md says where every recording comes from.
"""

from __future__ import annotations

import json
import re
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captions.words import UNSPACED

CORPUS_DIR = Path(__file__).parent / "corpus"
MANIFEST = CORPUS_DIR / "manifest.json"
# Recordings kept out of tuning: the engine's policy was chosen on MANIFEST's items, and this
# set checks that what was chosen holds on speakers and languages it was never measured on.
HELDOUT_MANIFEST = CORPUS_DIR / "heldout" / "manifest.json"
CLIPS_MANIFEST = CORPUS_DIR / "clips" / "manifest.json"
SAMPLE_RATE = 16000

# Anything that is neither a word character, a space nor an apostrophe separates words.
_PUNCTUATION = re.compile(r"[^\w\s']|_")
# Chinese and Japanese are written without spaces between words: each Han, kana or
# ideographic-iteration character counts as a word, so their rate is a character error rate.
_UNSPACED = re.compile(f"({UNSPACED})")


@dataclass(frozen=True)
class CorpusItem:
    """One recording of the corpus and the words spoken in it (empty for non-speech)."""

    id: str
    file: str
    language: str
    speakers: tuple[str, ...]
    native: bool
    seconds: float
    reference: str
    source: str
    licence: str
    folder: Path = CORPUS_DIR  # where its manifest and file are

    @property
    def path(self) -> Path:
        """The compressed recording, beside its manifest."""
        return self.folder / self.file


def load_manifest(path: Path = MANIFEST) -> list[CorpusItem]:
    """Return the corpus items listed in ``path``, in their order there."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [
        CorpusItem(**{**entry, "speakers": tuple(entry["speakers"]), "folder": path.parent})
        for entry in entries
    ]


def audio(item: CorpusItem) -> np.ndarray:
    """Return the item's samples as float32 mono at 16 kHz (decoded by PyAV)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(item.path), sampling_rate=SAMPLE_RATE)


def wav_path(item: CorpusItem, directory: Path) -> Path:
    """Return a 16-bit 16 kHz mono WAV of the item in ``directory``, writing it on first use."""
    path = Path(directory) / f"{item.id}.wav"
    if path.exists():
        return path
    pcm = (np.clip(audio(item), -1.0, 1.0) * 32767).astype("<i2")
    partial = path.with_name(path.name + ".partial")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    partial.replace(path)  # a reader never sees half a file
    return path


def normalise(text: str) -> list[str]:
    """Return the words of ``text`` as compared by :func:`word_error_rate`.

    Unicode NFKC, lower case; punctuation (hyphens too) separates words; apostrophes are
    dropped, so "it's" and "its" agree. Accents are kept. Numbers are not rewritten: the
    references spell them as spoken ("fourteen fifty-five"), so a hypothesis in digits
    ("1455") counts as an error, as a listener reading captions would see it differently.
    Chinese and Japanese characters are words of one character each.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCTUATION.sub(" ", text).replace("'", "")
    return _UNSPACED.sub(r" \1 ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Return (substitutions + deletions + insertions) / reference words, after normalising.

    With an empty reference the rate is the number of inserted words (0.0 when both are empty).
    """
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp) / max(len(ref), 1)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words, one row at a time."""
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i]
        for j, other in enumerate(hyp, start=1):
            substitution = previous[j - 1] + (word != other)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]
