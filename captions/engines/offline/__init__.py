"""The embedded offline engine: Whisper (faster-whisper) + Apertium/Bergamot + espeak-ng/Piper.

The default engine: runs with no key and no internet. One engine object per process holds
the one loaded Whisper model and voice-activity model that every presenter's session shares.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from dataclasses import replace

import numpy as np

from ..base import Engine, EngineError, EngineSession, LanguageSupport, SessionConfig
from .decoder import WhisperDecoder
from .errors import OfflineEngineError
from .languages import normalize_language, with_scripts
from .model import ModelError, ModelSettings, load_model
from .policy import FRAME_SAMPLES, PolicyParams, StreamingPolicy
from .script import to_script
from .session import OfflineSession

__all__ = ["OfflineEngine", "OfflineEngineError"]

logger = logging.getLogger(__name__)


@functools.cache
def whisper_languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def _decoder_or_none(model_settings: ModelSettings, what: str, instead: str):
    """A decoder of an optional model, or None with a warning if it fails to load."""
    try:
        return WhisperDecoder(load_model(model_settings))
    except Exception:
        logger.warning("%s failed to load: %s", what, instead, exc_info=True)
        return None


class OfflineEngine(Engine):
    """Speech recognition with Whisper, translation and speech output from local packages."""

    name = "local"

    def __init__(self, *, policy: dict | None = None, **options) -> None:
        self.model_settings = ModelSettings.from_settings()
        self.partial_model_settings = ModelSettings.for_partials()
        self.policy_params = PolicyParams(**(policy or {}))  # OPTIONS["policy"]: bench tuning
        self._model = None
        self._decoder = None
        self._partial_decoder = None
        self._look_back_decoder = None
        self._look_back_failed = False
        self._vad = None
        self._vad_lock = threading.Lock()

    # -------------------------------------------------------------- shared models

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.model_settings)
        return self._model

    @property
    def decoder(self) -> WhisperDecoder:
        if self._decoder is None:
            self._decoder = WhisperDecoder(self.model)
        return self._decoder

    def partial_decoder(self, language: str) -> WhisperDecoder:
        """The decoder of ``language``'s partials: the smaller partial model where it knows the
        language (tiny.en knows only English), else the main one. A partial model that fails
        to load costs speed, not captions: the main model decodes partials instead."""
        if self.partial_model_settings is None:
            return self.decoder
        if self._partial_decoder is None:
            self._partial_decoder = _decoder_or_none(
                self.partial_model_settings, "the partial model", "partials use the main model"
            )
            if self._partial_decoder is None:
                self.partial_model_settings = None
                return self.decoder
        if self._partial_decoder.knows(language):
            return self._partial_decoder
        return self.decoder

    @property
    def look_back_decoder(self) -> WhisperDecoder | None:
        """The decoder of the look back at finals (policy.py): the main model's weights once
        more, loaded at idle priority (``ModelSettings.for_look_back``), so that a look back
        runs beside the live decodes on what they leave of the CPU instead of holding them.
        None if it failed to load (out of memory, say): that costs the look back, not
        captions."""
        if self._look_back_decoder is None and not self._look_back_failed:
            self._look_back_decoder = _decoder_or_none(
                ModelSettings.for_look_back(),
                "the look-back model",
                "finals are not looked back at",
            )
            self._look_back_failed = self._look_back_decoder is None
        return self._look_back_decoder

    def speech_probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Silero VAD probability for each 512-sample frame (the model faster-whisper ships)."""
        if self._vad is None:
            from faster_whisper.vad import get_vad_model

            self._vad = get_vad_model()
        with self._vad_lock:
            return self._vad(frames).reshape(-1)

    # -------------------------------------------------------------- languages

    def language_support(self) -> LanguageSupport:
        from .speech import get_synthesizer
        from .translation import get_translator

        translator = get_translator()
        sources = {
            source: with_scripts(translator.supported_targets(source) | {"en"}) - {source}
            for source in with_scripts(whisper_languages())
        }
        return LanguageSupport(sources=sources, speech=frozenset(get_synthesizer().languages()))

    def needs_whisper_english(self, config: SessionConfig) -> bool:
        """English wanted, and no text translator serves it: Whisper translates the audio."""
        from .translation import get_translator

        wanted = "en" in config.target_languages and config.source_language != "en"
        return wanted and not get_translator().supports(config.source_language, "en")

    # -------------------------------------------------------------- per caption work

    def translate(self, text: str, config: SessionConfig) -> dict[str, str]:
        """Translate ``text`` into every target a text translator serves (blocking)."""
        from .translation import TranslationError, get_translator

        translator = get_translator()
        source = config.source_language
        targets = [
            t for t in config.target_languages if t != source and translator.supports(source, t)
        ]
        if not text or not targets:
            return {}
        try:
            done = translator.translate_many(text, source, targets, glossary=config.glossary)
        except TranslationError as exc:
            logger.warning("translation failed: %s", exc)
            return {}
        return {target: to_script(translated, target) for target, translated in done.items()}

    def synthesize(self, text: str, language: str) -> tuple[bytes, str] | None:
        from .speech import SpeechError, get_synthesizer

        synthesizer = get_synthesizer()
        if not synthesizer.speaks(language):
            return None
        try:
            return synthesizer.synthesize(text, language)
        except SpeechError as exc:
            logger.warning("speech synthesis failed: %s", exc)
            return None

    def hotwords(self, config: SessionConfig) -> str | None:
        """The glossary's terms, to bias recognition towards them."""
        return " ".join(config.phrases) or None

    # -------------------------------------------------------------- sessions

    async def prepare(self, config: SessionConfig) -> None:
        if normalize_language(config.source_language) in whisper_languages():
            await asyncio.to_thread(self._load, config)

    async def start_session(self, config: SessionConfig) -> EngineSession:
        if normalize_language(config.source_language) not in whisper_languages():
            raise EngineError(
                f"Whisper does not recognize the language {config.source_language!r}",
                permanent=True,
            )
        try:
            await asyncio.to_thread(self._load, config)  # at once if prepare() did it
        except ModelError as exc:
            raise EngineError(str(exc), permanent=exc.permanent) from exc
        params, partials = self.policy_params, self.partial_decoder(config.source_language)
        if partials is not self.decoder:
            params = replace(params, agreed_finals=False)  # finals are base's words only
        if params.review_below is not None and self.look_back_decoder is None:
            params = replace(params, review_below=None)
        return OfflineSession(self, config, StreamingPolicy(params), partials)

    def _load(self, config: SessionConfig) -> None:
        """The models a session for ``config`` uses, loaded once per process (blocking)."""
        self.model  # noqa: B018 (the property loads it)
        self.partial_decoder(config.source_language)
        if self.policy_params.review_below is not None:
            self.look_back_decoder  # noqa: B018
        self.speech_probabilities(np.zeros(FRAME_SAMPLES, dtype=np.float32))
        self._warm_up(config)

    def _warm_up(self, config: SessionConfig) -> None:
        from .translation import get_translator

        try:
            get_translator().warm_up(config.source_language, list(config.target_languages))
        except Exception:  # a missing pair shows up later as an untranslated caption
            logger.warning("translation warm-up failed", exc_info=True)
