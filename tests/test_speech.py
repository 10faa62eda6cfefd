"""Speech output: voice selection and real synthesis with espeak-ng and Piper."""

from __future__ import annotations

import io
import shutil
import wave

import pytest

from captions.engines.offline.speech import (
    SpeechError,
    build_synthesizer,
    get_synthesizer,
    reset_synthesizer,
)
from captions.engines.offline.speech.encode import ffmpeg_available
from captions.engines.offline.speech.espeak import EspeakSynthesizer, parse_voices, voice_map
from captions.engines.offline.speech.piper import PiperSynthesizer, bundled_voices
from captions.engines.offline.speech.piper import available as piper_available
from captions.engines.offline.speech.wav import duration, pcm_to_wav, streamed_wav_to_pcm

needs_espeak = pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng missing")
needs_piper = pytest.mark.skipif(
    not piper_available() or not bundled_voices(), reason="piper-tts or its voice missing"
)


@pytest.fixture(scope="module")
def synthesizer():
    return build_synthesizer()


def assert_plausible_speech(audio: bytes, content_type: str, seconds: tuple[float, float]):
    """Check a 16-bit mono WAV whose length lies within ``seconds``."""
    assert content_type == "audio/wav"
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        assert wav.getframerate() >= 16_000
        assert len(wav.readframes(wav.getnframes())) == wav.getnframes() * 2
    assert seconds[0] < duration(audio) < seconds[1]


def test_espeak_voice_listing_is_parsed_into_names():
    """The voice name is the second column of ``espeak-ng --voices``."""
    listing = "Pty Language Age/Gender VoiceName File Other\n 5  es  --/M  Spanish  roa/es\n"
    assert parse_voices(listing) == ["es"]


def test_app_languages_map_to_the_variety_the_app_means():
    """pt is Brazilian, en is US English, and a regional-only voice still serves its language."""
    voices = voice_map(["en-gb", "en-us", "pt", "pt-br", "es", "es-419", "fr-be", "fr-fr", "cmn"])
    assert voices["en"] == "en-us" and voices["pt"] == "pt-br" and voices["es"] == "es"
    assert voices["fr"] == "fr-fr" and voices["zh"] == "cmn"


def test_a_wav_written_to_a_pipe_gets_correct_sizes():
    """espeak-ng's streamed header (sizes unknown) is replaced by one with real sizes."""
    streamed = bytearray(pcm_to_wav(b"\x01\x00" * 100, 22050))
    streamed[4:8] = streamed[40:44] = b"\xff\xff\xff\x7f"
    pcm, rate = streamed_wav_to_pcm(bytes(streamed))
    assert (len(pcm), rate) == (200, 22050)
    assert duration(pcm_to_wav(pcm, rate)) == pytest.approx(100 / 22050)


@needs_espeak
def test_spanish_is_spoken_by_espeak_as_a_valid_wav(synthesizer):
    """A short Spanish sentence becomes one to five seconds of 16-bit mono WAV."""
    assert synthesizer.backend_for("es").name == "espeak-ng"
    audio, content_type = synthesizer.synthesize("Hola mundo, esto es una prueba.", "es")
    assert_plausible_speech(audio, content_type, (1.0, 5.0))


@needs_espeak
def test_text_starting_with_a_dash_is_spoken_not_taken_as_an_option():
    """A caption such as '-v de' is read aloud rather than changing espeak's voice."""
    audio, content_type = EspeakSynthesizer().synthesize("-v de hola", "es")
    assert_plausible_speech(audio, content_type, (0.3, 4.0))


@needs_piper
def test_english_is_spoken_by_piper_when_installed(synthesizer):
    """The natural Piper voice, not espeak, speaks English."""
    assert synthesizer.backend_for("en").name == "piper"
    audio, content_type = synthesizer.synthesize("Hello world, this is a short test.", "en")
    assert_plausible_speech(audio, content_type, (1.0, 5.0))


@needs_piper
def test_piper_ignores_a_named_voice_without_its_config(tmp_path):
    """A voice file without its .onnx.json is skipped; the bundled voice still serves English."""
    (tmp_path / "broken.onnx").write_bytes(b"")
    assert PiperSynthesizer([tmp_path / "broken.onnx"]).languages() == frozenset({"en"})


def test_a_language_without_a_voice_is_refused_permanently(synthesizer):
    """Klingon has no voice, so synthesis raises a permanent SpeechError."""
    with pytest.raises(SpeechError) as caught:
        synthesizer.synthesize("Qapla'", "tlh")
    assert caught.value.permanent


def test_get_synthesizer_returns_one_object_per_process():
    """The shared synthesizer is built once and rebuilt after a reset."""
    first = get_synthesizer()
    assert get_synthesizer() is first
    reset_synthesizer()
    assert get_synthesizer() is not first
    reset_synthesizer()


@needs_espeak
@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg missing")
@pytest.mark.parametrize(("audio_format", "content_type", "magic"), [
    ("mp3", "audio/mpeg", (b"ID3", b"\xff\xfb", b"\xff\xf3")),
    ("ogg", "audio/ogg", (b"OggS",)),
])  # fmt: skip
def test_speech_can_be_compressed_with_ffmpeg(audio_format, content_type, magic):
    """With a compressed format chosen, audio is far smaller than the WAV and labelled so."""
    text = "Hola mundo, esto es una prueba de la traducción."
    wav, _ = build_synthesizer("wav").synthesize(text, "es")
    audio, label = build_synthesizer(audio_format).synthesize(text, "es")
    assert label == content_type and audio.startswith(magic)
    assert len(audio) * 4 < len(wav)


def test_an_unknown_speech_format_fails_loudly():
    """A typo in CAPTION_SPEECH_FORMAT is an error at start-up, not silent WAV."""
    with pytest.raises(ValueError, match="flac"):
        build_synthesizer("flac")


@pytest.mark.parametrize("language", ["en", "es"])
def test_text_with_nothing_to_pronounce_gives_a_short_valid_wav(synthesizer, language):
    """Punctuation alone yields a playable WAV under a second, not an error."""
    if language not in synthesizer.languages():
        pytest.skip(f"no voice for {language}")
    audio, content_type = synthesizer.synthesize("...", language)
    assert content_type == "audio/wav" and duration(audio) < 1.0


@needs_espeak
def test_regional_tags_are_spoken_by_the_language_voice(synthesizer):
    """The app's BCP 47 tags work: pt-BR is spoken by the Portuguese voice."""
    assert synthesizer.speaks("pt-BR") and not synthesizer.speaks("tlh")
    audio, content_type = synthesizer.synthesize("Olá a todos.", "pt-BR")
    assert_plausible_speech(audio, content_type, (0.3, 4.0))
