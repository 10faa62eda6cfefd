"""One Whisper decode for the streaming policy: a short encoder window, a forced prefix, a prompt.

faster-whisper's ``transcribe`` pads every input to Whisper's 30 s window, so one decode of
a 2 s utterance costs the encoder 30 s of audio: about 0.55 s of the 0.8 s a decode takes
here. CTranslate2's encoder takes shorter windows, so this module calls the model directly
with the audio padded only to the next ``WINDOW_STEP`` (at least ``MIN_WINDOW``): the
encoder then costs 0.05-0.2 s. Shorter windows than Whisper was trained on cost accuracy
when they are very short; the minimum was chosen on recorded talks (bench/engine.py).

The policy asks for the text after a ``prefix``: the words already final or agreed, which
are forced into the decoder so that it continues after them. Earlier text and the event's
glossary go in Whisper's previous-text prompt.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from dataclasses import dataclass, replace

import numpy as np

from ...words import join_words, split_words
from .agreement import word_key
from .languages import normalize_language
from .script import to_script

SAMPLE_RATE = 16_000
FRAMES_PER_SECOND = 100  # mel frames: Whisper's hop is 10 ms
MAX_FRAMES = 3000  # Whisper's 30 s
MIN_WINDOW = 8.0  # seconds
WINDOW_STEP = 2.0  # seconds: few distinct shapes, and at most 2 s of padding
MAX_PROMPT_TOKENS = 223  # Whisper's context of 448 tokens, halved as in OpenAI's decoder

# Whisper's well-known inventions on silence, noise and music (its training data's credits).
HALLUCINATIONS = {
    "thank you",
    "thank you.",
    "thanks for watching",
    "thanks for watching!",
    "thank you for watching",
    "thank you for watching.",
    "you",
    "bye",
    "bye.",
    "subtitles by the amara.org community",
    "please subscribe",
    ".",
    "...",
    "sous-titres réalisés par la communauté d'amara.org",
    "gracias.",
    "¡gracias!",
    "продолжение следует...",
    "ご視聴ありがとうございました",
}
MAX_NO_SPEECH = 0.6
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4
ECHO_RUN = 4  # words: a run this long of the forced text, said again, is an echo
# Tokens that are only underscores: Whisper's "fill in the blank" ("easier to ____________.")
# where a partial decode hears a word cut off by the audio's end. Never speech, and a run of
# them goes on to the token bound: 1-1.6 s of a busy decoder (bench/engine.py trace, 2026-12-03).
BLANK_TOKEN = re.compile(r"Ġ?_+")
# A greedy decode that falls into a loop after its real words ("We will see to to to to",
# "the art of the art of the art of"): n-gram length -> back-to-back occurrences that make one.
LOOP_RUNS = {1: 3, 2: 3, 3: 2, 4: 2}
# ... or into a loop inside one word, which no word-level test sees: "crafts rrrrrr", "the
# ˈˈˈˈˈˈ", "example of ㄱㄹㄹㄹㄹㄹ" (5 of 271 partial decodes of the corpus, bench/engine.py
# trace 2026-12-04): a unit of 1-3 characters (not digits: "1000000") five times running; or
# a stop inside a character's bytes (U+FFFD: a loop on byte tokens, or the token bound).
CHARACTER_LOOP = re.compile(r"([^\s\d]{1,3}?)\1{4,}|\ufffd")
# ... or into a longer cycle that runs to the token bound, often the prompt's sentence said
# again ("whole. Except type, very similar, but they want the whole. Except type, very
# similar, but they want the whole. Except", 2 of 326 partial decodes of the corpus): words
# that repeat, to the end of the text, the words a cycle (longer than LOOP_RUNS's) before.
CYCLE_REPEAT = 4  # words said again, at least, that make such a cycle a loop


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode for: the language, the task, the search, and the text around it."""

    language: str  # the event's code (zh-Hant): Whisper hears its base, the text is in its script
    task: str = "transcribe"  # or "translate" (into English)
    beam_size: int = 1
    prefix: str = ""  # forced: only what follows it is returned
    prompt: str = ""  # Whisper's previous text
    hotwords: str = ""  # glossary terms, put before the prompt
    window: float = MIN_WINDOW  # seconds of encoder window, at least
    fresh_seconds: float | None = None  # audio after what the prefix covers (bounds the text)
    # A decode caught in a loop is done again with repeats banned. A partial is not (its next
    # decode comes within a second, and a second decode would hold up the final): it keeps
    # the words before the loop (``before_loop``), or none.
    retry_loops: bool = True

    @classmethod
    def for_request(cls, request, language: str, hotwords: str = "") -> DecodeOptions:
        """The options of the streaming policy's ``Decode`` request (policy.py)."""
        return cls(
            language,
            beam_size=request.beam,
            prefix=request.prefix,
            prompt=request.prompt,
            hotwords=hotwords,
            window=request.window,
            fresh_seconds=request.fresh / SAMPLE_RATE,
            retry_loops=request.final,
        )


def max_new_tokens(audio: np.ndarray, options: DecodeOptions) -> int:
    """A bound on the tokens the new speech can hold: a decode caught in a loop stops.

    Fast speech is about 5 tokens a second; a greedy decode that repeats itself would
    otherwise run to Whisper's 448 tokens, five seconds of a busy decoder here.
    """
    seconds = len(audio) / SAMPLE_RATE
    if options.fresh_seconds is not None:
        seconds = min(seconds, options.fresh_seconds)
    return 16 + int(seconds * 8)


def window_frames(frames: int, min_window: float = MIN_WINDOW) -> int:
    """The encoder window for ``frames`` mel frames: rounded up to a step, within bounds."""
    step = int(WINDOW_STEP * FRAMES_PER_SECOND)
    window = max(int(min_window * FRAMES_PER_SECOND), math.ceil(frames / step) * step)
    return min(MAX_FRAMES, window)


class WhisperDecoder:
    """Decodes with a loaded faster-whisper ``WhisperModel``; call from one thread at a time."""

    def __init__(self, model) -> None:
        self.model = model

    def knows(self, language: str) -> bool:
        """Whether the model hears ``language``: an English-only one (tiny.en) only English."""
        return self.model.model.is_multilingual or normalize_language(language) == "en"

    def decode(self, audio: np.ndarray, options: DecodeOptions) -> str:
        """Return the text after ``options.prefix``, or "" if it is most likely not speech.

        A final decode caught repeating itself is tried once more with repeated 3-grams
        banned (what Whisper's temperature fallback is for, without its randomness): dropping
        it would drop a whole sentence of the transcript. A partial one keeps only the words
        before the loop.

        Given a long forced prefix over long context audio, Whisper sometimes starts over and
        transcribes the context again after it ("echo"): those words would then be shown
        twice. Such a decode is done again on the fresh audio alone, with the forced text as
        previous-text prompt instead, and any words it shares with the forced text's end are
        dropped.
        """
        heard = self._decode(audio, options)
        if options.prefix and echoes(heard, options.prefix) and options.fresh_seconds:
            fresh = audio[-int(options.fresh_seconds * SAMPLE_RATE) :]
            prompt = " ".join(t for t in (options.prompt, options.prefix) if t)
            alone = replace(options, prefix="", prompt=prompt)
            return after_overlap(self._decode(fresh, alone), options.prefix)
        return heard

    def _decode(self, audio: np.ndarray, options: DecodeOptions) -> str:
        encoded = self._encode(audio, options.window)
        language = normalize_language(options.language)
        tokenizer = self._tokenizer(language, options.task)
        prefix = self._prefix(tokenizer, options)
        prompt = self._prompt(tokenizer, options) + prefix
        for no_repeat in (0, 3) if options.retry_loops else (0,):
            result = self.model.model.generate(
                encoded,
                [prompt],
                beam_size=options.beam_size,
                patience=1,
                length_penalty=1,
                max_length=min(self.model.max_length, len(prompt) + max_new_tokens(audio, options)),
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=self._suppressed(language, options.task),
                no_repeat_ngram_size=no_repeat,
            )[0]
            tokens = result.sequences_ids[0]
            if tokens[: len(prefix)] == prefix:
                tokens = tokens[len(prefix) :]
            tokens = [t for t in tokens if t < tokenizer.eot]
            decoded = tokenizer.decode(tokens).strip()
            text = decoded if options.retry_loops else before_loop(decoded)  # a partial keeps
            if not repeats(text):  # its real words, if any
                break
        if not prefix and _silent(result, len(tokens)):
            return ""
        return clean(text, options)

    @staticmethod
    def _prefix(tokenizer, options: DecodeOptions) -> list[int]:
        prefix = tokenizer.encode(" " + options.prefix.strip()) if options.prefix else []
        return prefix[-MAX_PROMPT_TOKENS:]

    def _encode(self, audio: np.ndarray, min_window: float):
        import ctranslate2

        features = self.model.feature_extractor(audio)[:, -MAX_FRAMES:]
        window = np.zeros((features.shape[0], window_frames(features.shape[1], min_window)))
        window[:, : features.shape[1]] = features
        batch = np.ascontiguousarray(window[None], dtype=np.float32)
        return self.model.model.encode(ctranslate2.StorageView.from_array(batch))

    @staticmethod
    def _prompt(tokenizer, options: DecodeOptions) -> list[int]:
        previous = " ".join(t for t in (options.hotwords, options.prompt) if t).strip()
        prompt = []
        if previous:
            prompt = [tokenizer.sot_prev, *tokenizer.encode(" " + previous)[-MAX_PROMPT_TOKENS:]]
        return [*prompt, *tokenizer.sot_sequence, tokenizer.no_timestamps]

    @functools.cache  # noqa: B019 - one decoder per process, a handful of languages
    def _tokenizer(self, language: str, task: str):
        from faster_whisper.tokenizer import Tokenizer

        multilingual = self.model.model.is_multilingual
        return Tokenizer(self.model.hf_tokenizer, multilingual, task=task, language=language)

    @functools.cache  # noqa: B019
    def _suppressed(self, language: str, task: str) -> list[int]:
        from faster_whisper.transcribe import get_suppressed_tokens

        vocabulary = self.model.hf_tokenizer.get_vocab()
        blanks = [i for token, i in vocabulary.items() if BLANK_TOKEN.fullmatch(token)]
        return sorted({*get_suppressed_tokens(self._tokenizer(language, task), [-1]), *blanks})


def clean(text: str, options: DecodeOptions) -> str:
    """The decoded text as captions show it: no known invention, in the asked script."""
    text = text.strip()
    if _invented(text):
        return ""
    return to_script(text, options.language) if options.task == "transcribe" else text


def _silent(result, length: int) -> bool:
    """Whisper's own no-speech test, for a decode with no forced words before it."""
    average = result.scores[0] * length / (length + 1) if length else -math.inf
    return result.no_speech_prob > MAX_NO_SPEECH and average < MIN_AVG_LOGPROB


def repeats(text: str) -> bool:
    """Whether ``text`` is a decode caught in a loop (Whisper's compression-ratio test)."""
    data = text.encode()
    return len(data) > 24 and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION_RATIO


def before_loop(text: str) -> str:
    """``text`` up to where it starts repeating itself (``LOOP_RUNS``, ``CHARACTER_LOOP``,
    ``CYCLE_REPEAT``).

    The compression-ratio test (``repeats``) misses a short loop after real words, and such a
    partial would be shown ("They all to take to to to to to to") and fed to the agreement.
    """
    if (inside := CHARACTER_LOOP.search(text)) is not None:
        text = text[: inside.start()].rstrip()
    words = split_words(text)
    keys = [word_key(word) for word in words]
    starts = [at for at in (_run_start(keys), _cycle_start(keys)) if at is not None]
    return join_words(words[: min(starts)]) if starts else text


def _run_start(keys: list[str]) -> int | None:
    """Where the first n-gram of ``LOOP_RUNS`` said back to back often enough begins."""
    for start in range(len(keys)):
        for length, times in LOOP_RUNS.items():
            gram = keys[start : start + length]
            later = range(1, times)
            if len(gram) == length and all(
                keys[start + k * length : start + (k + 1) * length] == gram for k in later
            ):
                return start
    return None


def _cycle_start(keys: list[str]) -> int | None:
    """Where a cycle longer than ``LOOP_RUNS``'s, repeated to the end of ``keys``, begins."""
    starts = []
    for period in range(max(LOOP_RUNS) + 1, len(keys) - CYCLE_REPEAT + 1):
        repeated = 0  # words at the end equal to the word ``period`` before
        while repeated < len(keys) - period and keys[-1 - repeated] == keys[-1 - repeated - period]:
            repeated += 1
        if repeated >= CYCLE_REPEAT:
            starts.append(len(keys) - repeated - period)
    return min(starts, default=None)


def echoes(text: str, prefix: str) -> bool:
    """Whether at least half of ``text``'s runs of ``ECHO_RUN`` words occur in ``prefix``."""
    new, old = _keys(text), _keys(prefix)
    runs = [tuple(new[i : i + ECHO_RUN]) for i in range(len(new) - ECHO_RUN + 1)]
    if not runs:
        return False
    known = {tuple(old[i : i + ECHO_RUN]) for i in range(len(old) - ECHO_RUN + 1)}
    return 2 * sum(run in known for run in runs) >= len(runs)


def after_overlap(text: str, prefix: str) -> str:
    """``text`` without its longest start that repeats the end of ``prefix`` (word by word)."""
    words, tail = split_words(text), _keys(prefix)
    for count in range(min(len(words), len(tail)), 0, -1):
        if [word_key(w) for w in words[:count]] == tail[-count:]:
            return join_words(words[count:])
    return text


def _keys(text: str) -> list[str]:
    return [key for key in map(word_key, split_words(text)) if key]


def _invented(text: str) -> bool:
    return bool(text) and (text.lower() in HALLUCINATIONS or repeats(text))
