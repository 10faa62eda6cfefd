"""The Azure engine against the local protocol-faithful server (tests/azure_server.py)."""

from __future__ import annotations

import asyncio

import pytest

from captions.engines.azure import AzureConfigError, AzureEngine
from captions.engines.base import (
    CaptionResult,
    EngineError,
    EngineNotice,
    NoticeKind,
    SessionConfig,
    SpeechResult,
)
from tests.azure_server import AzureTestServer, Fault, say

pytestmark = pytest.mark.timeout(20)

TARGETS = ("es", "fr", "de")
FIRST = ("hello", "everyone")
SECOND = ("welcome", "to", "the", "keynote")


def engine_for(server: AzureTestServer, **options) -> AzureEngine:
    options = {"key": server.key, "endpoint": server.url, "backoff": 0.01, **options}
    return AzureEngine(**options)


def config(**overrides) -> SessionConfig:
    return SessionConfig(**{"source_language": "en", "target_languages": TARGETS, **overrides})


async def run_session(engine: AzureEngine, audio: bytes, cfg: SessionConfig | None = None,
                      chunk: int = 1000) -> list:  # fmt: skip
    """Send ``audio`` in odd-sized chunks, finish, and collect every result."""
    session = await engine.start_session(cfg or config())
    try:
        for start in range(0, len(audio), chunk):
            await session.send_audio(audio[start : start + chunk])
            await asyncio.sleep(0)
        await session.finish()
        return [result async for result in session.results()]
    finally:
        await session.close()


def finals(results: list) -> list[CaptionResult]:
    return [r for r in results if isinstance(r, CaptionResult) and r.is_final]


def partials(results: list) -> list[CaptionResult]:
    return [r for r in results if isinstance(r, CaptionResult) and not r.is_final]


def translated(text: str) -> dict[str, str]:
    return {language: f"[{language}] {text}" for language in TARGETS}


async def test_partials_and_finals_arrive_with_translations_in_three_languages():
    async with AzureTestServer() as server:
        results = await run_session(engine_for(server), say(*FIRST) + say(*SECOND))
    assert server.errors == []
    assert [(r.source_text, dict(r.translations)) for r in finals(results)] == [
        ("hello everyone", translated("hello everyone")),
        ("welcome to the keynote", translated("welcome to the keynote")),
    ]
    assert [r.source_text for r in partials(results)][:2] == ["hello", "hello everyone"]
    assert {r.segment_id for r in partials(results)} == {r.segment_id for r in finals(results)}


async def test_offsets_are_seconds_from_the_start_of_the_sessions_audio():
    async with AzureTestServer() as server:
        results = await run_session(engine_for(server), say(*FIRST) + say(*SECOND))
    first, second = finals(results)
    assert (first.start, first.end) == (0.0, 0.46)
    assert (second.start, second.end) == (1.02, 2.0)


async def test_the_connection_carries_languages_key_profanity_and_phrase_list():
    async with AzureTestServer() as server:
        cfg = config(phrases=("Contoso",), profanity="removed")
        results = await run_session(
            engine_for(server), say("welcome", "to", "contoso", "darn"), cfg
        )
    connection = server.connections[0]
    assert connection.query["from"] == ["en-US"] and connection.query["to"] == list(TARGETS)
    assert connection.query["profanity"] == ["removed"]
    assert connection.headers["ocp-apim-subscription-key"] == server.key
    assert connection.subprotocol == "USP"
    groups = connection.contexts[0]["dgi"]["Groups"]
    assert groups == [{"Type": "Generic", "Items": [{"Text": "Contoso"}]}]
    assert [r.source_text for r in finals(results)] == ["welcome to Contoso"]
    assert server.errors == []


async def test_a_bearer_token_authenticates_instead_of_a_key():
    async with AzureTestServer(token="tok") as server:
        engine = AzureEngine(token="tok", endpoint=server.url)
        results = await run_session(engine, say(*FIRST))
    assert [r.source_text for r in finals(results)] == ["hello everyone"]
    assert server.connections[0].headers["authorization"] == "Bearer tok"


async def test_synthesized_speech_arrives_as_a_speech_result_for_the_chosen_language():
    async with AzureTestServer() as server:
        engine = engine_for(server, voices="fr=fr-FR-HenriNeural")
        cfg = config(speech_languages=frozenset({"fr", "de"}))
        results = await run_session(engine, say(*FIRST) + say(*SECOND), cfg)
    speech = [r for r in results if isinstance(r, SpeechResult)]
    first, second = finals(results)
    # One voice per session: the first target in the event's order with a listener.
    assert [(s.segment_id, s.language) for s in speech] == [
        (first.segment_id, "fr"),
        (second.segment_id, "fr"),
    ]
    assert b"fr-FR-HenriNeural|[fr] hello everyone" in speech[0].audio
    assert speech[0].content_type == "audio/wav"
    assert server.connections[0].query["voice"] == ["fr-FR-HenriNeural"]


async def test_the_v2_endpoint_gives_the_same_captions_and_speech():
    async with AzureTestServer() as server:
        engine = engine_for(server, endpoint=server.url_v2)
        cfg = config(speech_languages=frozenset({"de"}))
        results = await run_session(engine, say(*FIRST) + say(*SECOND), cfg)
    assert server.errors == []
    assert [(r.source_text, dict(r.translations), r.start) for r in finals(results)] == [
        ("hello everyone", translated("hello everyone"), 0.0),
        ("welcome to the keynote", translated("welcome to the keynote"), 1.02),
    ]
    assert [r.source_text for r in partials(results)][:2] == ["hello", "hello everyone"]
    speech = [r for r in results if isinstance(r, SpeechResult)]
    assert [s.language for s in speech] == ["de", "de"]
    assert server.connections[0].contexts[0]["phraseDetection"]["language"] == "en-US"


async def test_a_connection_dropped_mid_sentence_resumes_with_no_lost_or_repeated_final():
    audio = say(*FIRST) + say(*SECOND) + say("thank", "you")
    async with AzureTestServer() as server:
        server.faults.append(Fault("drop", after_finals=1, after_partials=2))
        results = await run_session(engine_for(server), audio)
    assert server.errors == []
    assert [r.source_text for r in finals(results)] == [
        "hello everyone", "welcome to the keynote", "thank you"
    ]  # fmt: skip
    assert [r.start for r in finals(results)] == [0.0, 1.02, 2.56]
    assert [r.kind for r in results if isinstance(r, EngineNotice)] == [NoticeKind.RECONNECTING]
    (_, offset, expected), = server.continuations  # fmt: skip
    assert offset == expected == 4_600_000
    # The new connection got every byte after the first final, and nothing before it.
    assert bytes(server.connections[1].audio) == audio[4_600_000 // 625 * 2 :]


async def test_a_wrong_key_is_a_permanent_error_with_a_clear_message():
    async with AzureTestServer(key="right") as server:
        with pytest.raises(EngineError) as caught:
            await run_session(engine_for(server, key="wrong"), say(*FIRST))
    assert caught.value.permanent
    assert "401" in str(caught.value) and "AZURE_SPEECH_KEY" in str(caught.value)
    assert server.rejected == 1  # not retried


async def test_a_1011_close_is_retried_and_the_session_completes():
    async with AzureTestServer() as server:
        server.faults.append(Fault("close", code=1011, reason="internal", after_finals=1))
        results = await run_session(engine_for(server), say(*FIRST) + say(*SECOND))
    assert [r.source_text for r in finals(results)] == ["hello everyone", "welcome to the keynote"]
    notices = [r for r in results if isinstance(r, EngineNotice)]
    assert [n.kind for n in notices] == [NoticeKind.RECONNECTING]
    assert "1011" in notices[0].detail and "internal" in notices[0].detail


async def test_a_1007_close_is_a_permanent_error():
    async with AzureTestServer() as server:
        server.faults.append(
            Fault("close", code=1007, reason="unsupported language", at_context=True)
        )
        with pytest.raises(EngineError) as caught:
            await run_session(engine_for(server), say(*FIRST))
    assert caught.value.permanent
    assert "1007" in str(caught.value) and "unsupported language" in str(caught.value)
    assert len(server.connections) == 1


async def test_retries_are_bounded_and_end_in_a_temporary_error():
    async with AzureTestServer() as server:
        server.faults.extend(Fault("close", code=1011, at_context=True) for _ in range(5))
        with pytest.raises(EngineError) as caught:
            await run_session(engine_for(server, max_attempts=2), say(*FIRST))
    assert not caught.value.permanent
    assert len(server.connections) == 3


async def test_changing_speech_languages_reconnects_with_the_new_voice_and_loses_nothing():
    async with AzureTestServer() as server:
        session = await engine_for(server).start_session(config())
        await session.send_audio(say(*FIRST))
        results = session.results()
        while not isinstance(first := await anext(results), CaptionResult) or not first.is_final:
            pass
        await session.set_speech_languages(frozenset({"de"}))
        await session.send_audio(say(*SECOND))
        await session.finish()
        rest = [r async for r in results]
        await session.close()
    assert [r.source_text for r in finals([first, *rest])] == [
        "hello everyone", "welcome to the keynote"
    ]  # fmt: skip
    assert [r.language for r in rest if isinstance(r, SpeechResult)] == ["de"]
    assert server.connections[-1].query["voice"] == ["de-DE-KatjaNeural"]
    assert not any(isinstance(r, EngineNotice) for r in rest)


async def test_when_the_service_ends_a_turn_early_a_new_turn_resumes_on_the_same_connection():
    async with AzureTestServer() as server:
        server.faults.append(Fault("end_turn", after_finals=1, after_partials=1))
        results = await run_session(engine_for(server), say(*FIRST) + say(*SECOND) + say("you"))
    assert server.errors == []
    assert [(r.source_text, r.start) for r in finals(results)] == [
        ("hello everyone", 0.0),
        ("welcome to the keynote", 1.02),
        ("you", 2.56),
    ]
    assert len(server.connections) == 1 and len(server.connections[0].contexts) == 2


async def test_a_recognition_error_status_is_retried_on_a_new_connection():
    async with AzureTestServer() as server:
        server.faults.append(Fault("status", reason="Error", after_finals=1))
        results = await run_session(engine_for(server), say(*FIRST) + say(*SECOND))
    assert [r.source_text for r in finals(results)] == ["hello everyone", "welcome to the keynote"]
    assert len(server.connections) == 2


async def test_a_forbidden_status_is_a_permanent_error():
    async with AzureTestServer() as server:
        server.faults.append(Fault("status", reason="Forbidden", after_finals=1))
        with pytest.raises(EngineError, match="Forbidden") as caught:
            await run_session(engine_for(server), say(*FIRST) + say(*SECOND))
    assert caught.value.permanent


async def test_a_service_that_never_starts_the_turn_is_left_for_a_new_connection():
    async with AzureTestServer() as server:
        server.faults.append(Fault("mute", at_context=True))
        results = await run_session(engine_for(server, open_timeout=0.3), say(*FIRST))
    assert [r.source_text for r in finals(results)] == ["hello everyone"]
    notices = [r for r in results if isinstance(r, EngineNotice)]
    assert "did not answer within 0.3s" in notices[0].detail
    assert len(server.connections) == 2


def test_the_engine_refuses_to_start_without_a_key_or_token(monkeypatch, settings):
    for name in ("AZURE_SPEECH_KEY", "AZURE_SPEECH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AzureConfigError, match="AZURE_SPEECH_KEY.*AZURE_SPEECH_TOKEN"):
        AzureEngine(region="westeurope")


def test_the_engine_reads_its_configuration_from_settings(settings):
    settings.AZURE_SPEECH_KEY = "k"
    settings.AZURE_SPEECH_REGION = "westeurope"
    settings.AZURE_SPEECH_VOICES = "de=de-DE-ConradNeural"
    engine = AzureEngine()
    assert engine.options.url == (
        "wss://westeurope.s2s.speech.microsoft.com/speech/translation/cognitiveservices/v1"
    )
    assert engine.options.voices["de"] == "de-DE-ConradNeural"
    assert "de" in engine.language_support().speech
    assert {"de", "fr", "zh"} <= engine.language_support().targets_for("en")


def test_a_malformed_voice_list_fails_loudly():
    with pytest.raises(AzureConfigError, match="AZURE_SPEECH_VOICES"):
        AzureEngine(key="k", region="westeurope", voices="de-DE-KatjaNeural")


def test_the_engine_refuses_to_start_without_a_region_or_endpoint(monkeypatch):
    for name in ("AZURE_SPEECH_REGION", "AZURE_SPEECH_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AzureConfigError, match="AZURE_SPEECH_REGION.*AZURE_SPEECH_ENDPOINT"):
        AzureEngine(key="k")


async def test_an_unknown_spoken_language_is_refused_at_start():
    engine = AzureEngine(key="k", region="westeurope")
    with pytest.raises(EngineError, match="'xx'") as caught:
        await engine.start_session(config(source_language="xx"))
    assert caught.value.permanent
