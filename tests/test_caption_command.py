"""`manage.py caption`: subtitles of a media file through the configured engine."""

from __future__ import annotations

import json
import subprocess

import pytest
from django.core.management import CommandError, call_command

from tests.whisper_speech import speech_wav

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SPEECH = "Good morning everyone. Welcome to our conference about open source software."


@pytest.fixture(autouse=True)
def embedded_engine(settings):
    settings.CAPTION_ENGINE = {"BACKEND": "local", "OPTIONS": {}}


@pytest.fixture
def mp3(tmp_path):
    """Generated speech as an MP3, so decoding goes through PyAV (ffmpeg)."""
    path = tmp_path / "talk.mp3"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_wav(SPEECH)), str(path)], check=True
    )
    return path


def test_a_media_file_gets_one_subtitle_file_per_language(mp3, tmp_path):
    out = tmp_path / "subtitles"
    call_command("caption", str(mp3), "--from", "en", "--to", "es,pt", "--output-dir", str(out))
    english = (out / "talk.en.srt").read_text()
    assert english.startswith("1\n00:00:0") and "conference" in english.lower()
    assert "conferencia" in (out / "talk.es.srt").read_text().lower()
    assert "bom dia" in (out / "talk.pt.srt").read_text().lower()


def test_webvtt_and_json_are_written_too(mp3, tmp_path):
    call_command(
        "caption",
        str(mp3),
        "--from",
        "en",
        "--to",
        "es",
        "--format",
        "vtt",
        "--output-dir",
        str(tmp_path),
    )
    assert (tmp_path / "talk.es.vtt").read_text().startswith("WEBVTT")
    call_command(
        "caption", str(mp3), "--from", "en", "--format", "json", "--output-dir", str(tmp_path)
    )
    document = json.loads((tmp_path / "talk.en.json").read_text())
    assert document["language"] == "en"
    assert document["captions"][0]["start"] < document["captions"][0]["end"]


def test_a_missing_file_and_an_unserved_language_are_clear_errors(mp3, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("caption", str(tmp_path / "nothing.wav"), "--from", "en")
    with pytest.raises(CommandError, match="cannot translate en into xx"):
        call_command("caption", str(mp3), "--from", "en", "--to", "xx")
    not_media = tmp_path / "notes.txt"
    not_media.write_text("not audio")
    with pytest.raises(CommandError, match="cannot decode"):
        call_command("caption", str(not_media), "--from", "en")
