"""The offline engine package: how settings name it, its errors, its language codes."""

from __future__ import annotations

from django.utils.module_loading import import_string

from captions.engines import resolve_backend
from captions.engines.offline import OfflineEngine, OfflineEngineError
from captions.engines.offline.languages import normalize_language
from captions.engines.offline.model import ModelError
from captions.engines.offline.speech import SpeechError
from captions.engines.offline.translation import TranslationError


def test_local_and_the_old_whisper_path_both_name_the_offline_engine():
    """Settings written before the move to captions.engines.offline keep working."""
    assert import_string(resolve_backend("local")) is OfflineEngine
    old = resolve_backend("captions.engines.whisper.WhisperEngine")
    assert import_string(old) is OfflineEngine


def test_every_offline_error_shares_one_base_that_says_whether_it_is_permanent():
    """Translation, speech and model failures are all OfflineEngineErrors."""
    errors = [
        TranslationError("no pair", permanent=True),
        SpeechError("espeak-ng failed", permanent=False),
        ModelError("hash mismatch"),
    ]
    assert all(isinstance(error, OfflineEngineError) for error in errors)
    assert [error.permanent for error in errors] == [True, False, True]


def test_one_normaliser_gives_the_base_language_of_any_tag():
    """Regional and script subtags, underscores, case and spaces all reduce to the base code."""
    tags = ["pt-BR", "pt_br", " PT ", "zh-Hant", "zh-Hans-CN", "en"]
    assert [normalize_language(tag) for tag in tags] == ["pt", "pt", "pt", "zh", "zh", "en"]
