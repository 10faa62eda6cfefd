"""The offline engine package: how settings name it, its errors, language codes, discovery."""

from __future__ import annotations

import os

from django.utils.module_loading import import_string

from captions.engines import resolve_backend
from captions.engines.offline import OfflineEngine, OfflineEngineError
from captions.engines.offline.discovery import configured_paths, index_paths, package_data
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


def test_a_path_setting_is_a_list_or_an_os_pathsep_separated_string(settings):
    """CAPTION_PIPER_VOICES and CAPTION_BERGAMOT_MODELS are read the same way."""
    settings.CAPTION_PIPER_VOICES = os.pathsep.join(["/a/x.onnx", "", "/b/y.onnx"])
    assert configured_paths("CAPTION_PIPER_VOICES") == ["/a/x.onnx", "/b/y.onnx"]
    settings.CAPTION_BERGAMOT_MODELS = ["/models/enes"]
    assert configured_paths("CAPTION_BERGAMOT_MODELS") == ["/models/enes"]


def test_package_data_is_none_when_the_package_is_not_installed():
    """A missing optional package means no bundled model, not an import error."""
    assert package_data("no_such_package_for_captions", "data") is None
    assert package_data("captions", "engines").is_dir()


def test_the_first_candidate_for_a_key_wins_and_unknown_ones_are_skipped(tmp_path, caplog):
    """Discovery maps what it reads from each path to that path, earlier paths first."""
    first, second, junk = (tmp_path / name for name in ("en-1", "en-2", "junk"))
    found = index_paths(
        [first, second, junk], lambda p: p.name.split("-")[0] if "-" in p.name else None, "a model"
    )
    assert found == {"en": first}
    assert "Ignoring" in caplog.text and "junk" in caplog.text
