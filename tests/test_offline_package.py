"""The offline engine package: how settings name it."""

from __future__ import annotations

from django.utils.module_loading import import_string

from captions.engines import resolve_backend
from captions.engines.offline import OfflineEngine


def test_local_and_the_old_whisper_path_both_name_the_offline_engine():
    """Settings written before the move to captions.engines.offline keep working."""
    assert import_string(resolve_backend("local")) is OfflineEngine
    old = resolve_backend("captions.engines.whisper.WhisperEngine")
    assert import_string(old) is OfflineEngine
