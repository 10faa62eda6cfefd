"""The local Azure server judged by Microsoft's own Python Speech SDK.

If the official SDK (azure-cognitiveservices-speech, test-only) raises the right
events from this server's replies, the server is faithful enough for the client
tests in test_azure_engine.py to be worth trusting.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.azure_server import AzureTestServer, Fault, say

speechsdk = pytest.importorskip("azure.cognitiveservices.speech")

pytestmark = pytest.mark.timeout(40)

TARGETS = ("de", "fr", "es")


@dataclass
class SdkRun:
    """What the SDK raised during one continuous recognition."""

    recognizing: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    recognized: list[tuple[str, dict[str, str], int, int]] = field(default_factory=list)
    synthesizing: list[tuple[Any, bytes]] = field(default_factory=list)
    canceled: list[tuple[Any, Any, str]] = field(default_factory=list)


def recognize(
    url: str,
    audio: bytes,
    key: str = "test-key",
    voice: str | None = None,
    phrases: tuple[str, ...] = (),
    profanity: Any = None,
) -> SdkRun:
    """Push ``audio`` through the SDK's TranslationRecognizer against ``url``."""
    config = speechsdk.translation.SpeechTranslationConfig(endpoint=url, subscription=key)
    config.speech_recognition_language = "en-US"
    for language in TARGETS:
        config.add_target_language(language)
    if voice:
        config.voice_name = voice
    if profanity is not None:
        config.set_profanity(profanity)
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    if phrases:
        phrase_list = speechsdk.PhraseListGrammar.from_recognizer(recognizer)
        for phrase in phrases:
            phrase_list.addPhrase(phrase)
    run, stopped = SdkRun(), threading.Event()

    def on_recognizing(e: Any) -> None:
        run.recognizing.append((e.result.text, dict(e.result.translations), e.result.offset))

    def on_recognized(e: Any) -> None:
        result = e.result
        run.recognized.append(
            (result.text, dict(result.translations), result.offset, result.duration)
        )

    def on_canceled(e: Any) -> None:
        details = e.cancellation_details
        run.canceled.append((details.reason, details.code, details.error_details))

    recognizer.recognizing.connect(on_recognizing)
    recognizer.recognized.connect(on_recognized)
    recognizer.synthesizing.connect(
        lambda e: run.synthesizing.append((e.result.reason, bytes(e.result.audio)))
    )
    recognizer.canceled.connect(on_canceled)
    recognizer.session_stopped.connect(lambda e: stopped.set())
    recognizer.start_continuous_recognition()
    for start in range(0, len(audio), 3200):
        stream.write(audio[start : start + 3200])
    stream.close()
    stopped.wait(20)
    recognizer.stop_continuous_recognition()
    return run


def translations(text: str) -> dict[str, str]:
    return {language: f"[{language}] {text}" for language in TARGETS}


async def test_the_sdk_raises_recognizing_recognized_and_synthesizing_from_the_servers_replies():
    async with AzureTestServer() as server:
        audio = say("hello", "everyone") + say("welcome", "to", "the", "keynote")
        run = await asyncio.to_thread(recognize, server.url, audio, voice="de-DE-KatjaNeural")
    assert server.errors == []
    assert [(text, tr) for text, tr, _ in run.recognizing[:2]] == [
        ("hello", translations("hello")),
        ("hello everyone", translations("hello everyone")),
    ]
    assert [(text, tr) for text, tr, _, _ in run.recognized] == [
        ("hello everyone", translations("hello everyone")),
        ("welcome to the keynote", translations("welcome to the keynote")),
    ]
    assert [offset for *_, offset, _ in run.recognized] == [0, 10_200_000]
    audio_events = [data for reason, data in run.synthesizing
                    if reason == speechsdk.ResultReason.SynthesizingAudio]  # fmt: skip
    assert b"de-DE-KatjaNeural|[de] hello everyone" in audio_events[0]
    completed = [
        r for r, _ in run.synthesizing if r == speechsdk.ResultReason.SynthesizingAudioCompleted
    ]
    assert len(completed) == 2
    assert [reason for reason, _, _ in run.canceled] == [speechsdk.CancellationReason.EndOfStream]


async def test_the_sdk_sends_what_the_server_expects_on_the_wire():
    async with AzureTestServer() as server:
        await asyncio.to_thread(recognize, server.url, say("hello"), voice="de-DE-KatjaNeural")
    connection = server.connections[0]
    assert connection.query["to"] == list(TARGETS) and connection.query["from"] == ["en-US"]
    assert connection.query["features"] == ["texttospeech"]
    assert connection.headers["ocp-apim-subscription-key"] == "test-key"
    assert connection.subprotocol == "USP"
    context = connection.contexts[0]
    assert context["synthesis"]["defaultVoices"] == {"de": "de-DE-KatjaNeural"}
    assert context["translation"]["onSuccess"] == {"action": "Synthesize"}
    assert len(connection.audio) == len(say("hello"))


async def test_after_a_drop_mid_sentence_the_sdk_resumes_with_a_continuation_and_loses_no_final():
    async with AzureTestServer() as server:
        server.faults.append(Fault("drop", after_finals=1, after_partials=2))
        first, second = say("hello", "everyone"), say("welcome", "to", "the", "keynote")
        run = await asyncio.to_thread(recognize, server.url, first + second)
    assert server.errors == []
    assert [text for text, *_ in run.recognized] == ["hello everyone", "welcome to the keynote"]
    assert run.recognized[1][2] == 10_200_000  # rebased onto the session's audio
    (tag, offset, expected), = server.continuations  # fmt: skip
    assert offset == expected == 4_600_000  # the first final's Offset + Duration
    resumed = server.connections[1]
    assert "continuation" in resumed.contexts[0]
    # Everything after the acknowledged offset was sent again, nothing before it.
    assert bytes(resumed.audio) == (first + second)[4_600_000 // 625 * 2 :]


async def test_the_sdk_reports_a_wrong_key_as_an_authentication_failure():
    async with AzureTestServer(key="right-key") as server:
        run = await asyncio.to_thread(recognize, server.url, say("hello"), key="wrong-key")
    (reason, code, details), *_ = run.canceled
    assert code == speechsdk.CancellationErrorCode.AuthenticationFailure
    assert "401" in details
    assert run.recognized == []


async def test_the_sdk_gives_up_on_close_1007_with_the_servers_reason():
    async with AzureTestServer() as server:
        server.faults.append(Fault("close", code=1007, reason="bad target", at_context=True))
        run = await asyncio.to_thread(recognize, server.url, say("hello"))
    (reason, code, details), *_ = run.canceled
    assert reason == speechsdk.CancellationReason.Error
    assert "1007" in details and "bad target" in details
    assert len(server.connections) == 1


async def test_the_sdk_retries_after_close_1011_and_finishes():
    async with AzureTestServer() as server:
        server.faults.append(Fault("close", code=1011, reason="internal", after_finals=1))
        run = await asyncio.to_thread(recognize, server.url, say("hello") + say("keynote"))
    assert [text for text, *_ in run.recognized] == ["hello", "keynote"]
    assert len(server.connections) == 2


async def test_when_the_service_ends_a_turn_early_the_sdk_opens_a_new_one_and_resends_the_rest():
    first, second, third = (
        say("hello", "everyone"),
        say(*"welcome to the keynote".split()),
        say("you"),
    )
    async with AzureTestServer() as server:
        server.faults.append(Fault("end_turn", after_finals=1, after_partials=1))
        run = await asyncio.to_thread(recognize, server.url, first + second + third)
    assert server.errors == []
    assert [(text, offset) for text, _, offset, _ in run.recognized] == [
        ("hello everyone", 0),
        ("welcome to the keynote", 10_200_000),
        ("you", 25_600_000),
    ]
    assert len(server.connections) == 1
    assert [set(context) >= {"continuation"} for context in server.connections[0].contexts] == [
        False,
        True,
    ]


async def run_engine(url: str, audio: bytes, **config: Any) -> None:
    from captions.engines.azure import AzureEngine
    from captions.engines.base import SessionConfig

    engine = AzureEngine(key="test-key", endpoint=url, backoff=0.01)
    cfg = SessionConfig(source_language="en", target_languages=TARGETS, **config)
    session = await engine.start_session(cfg)
    try:
        await session.send_audio(audio)
        await session.finish()
        _ = [result async for result in session.results()]
    finally:
        await session.close()


async def test_the_engine_sends_the_same_query_context_and_continuation_as_the_sdk():
    audio = say("hello", "everyone") + say("welcome", "to", "contoso")
    options = {"phrases": ("Contoso",), "profanity": "removed",
               "speech_languages": frozenset({"de"})}  # fmt: skip
    async with AzureTestServer() as sdk_server, AzureTestServer() as engine_server:
        for server in (sdk_server, engine_server):
            server.faults.append(Fault("drop", after_finals=1, after_partials=1))
        await asyncio.to_thread(
            recognize,
            sdk_server.url,
            audio,
            voice="de-DE-KatjaNeural",
            phrases=("Contoso",),
            profanity=speechsdk.ProfanityOption.Removed,
        )
        await run_engine(engine_server.url, audio, **options)
    assert sdk_server.errors == engine_server.errors == []
    sdk, engine = sdk_server.connections, engine_server.connections
    assert sorted(engine[0].query.items()) == sorted(sdk[0].query.items())
    assert engine[0].contexts[0] == sdk[0].contexts[0]
    tag = engine_server.continuations[0][0]
    assert engine[1].contexts[0]["continuation"] == {
        **sdk[1].contexts[0]["continuation"],
        "previousServiceTag": tag,
        "token": engine_server.tokens[tag],
    }
    assert engine_server.continuations[0][1:] == sdk_server.continuations[0][1:]
    assert bytes(engine[1].audio) == bytes(sdk[1].audio)


async def test_on_the_v2_endpoint_the_sdk_reads_translation_responses_and_audio_messages():
    async with AzureTestServer() as server:
        audio = say("hello", "everyone") + say("welcome", "to", "the", "keynote")
        run = await asyncio.to_thread(recognize, server.url_v2, audio, voice="de-DE-KatjaNeural")
    assert server.errors == []
    assert [(text, tr) for text, tr, _ in run.recognizing[:2]] == [
        ("hello", translations("hello")),
        ("hello everyone", translations("hello everyone")),
    ]
    assert [(text, offset) for text, _, offset, _ in run.recognized] == [
        ("hello everyone", 0),
        ("welcome to the keynote", 10_200_000),
    ]
    reasons = [reason for reason, _ in run.synthesizing]
    assert reasons.count(speechsdk.ResultReason.SynthesizingAudioCompleted) == 2
    assert [reason for reason, _, _ in run.canceled] == [speechsdk.CancellationReason.EndOfStream]


async def test_on_the_v2_endpoint_the_engine_sends_the_same_url_and_context_as_the_sdk():
    audio = say("hello", "everyone")
    async with AzureTestServer() as sdk_server, AzureTestServer() as engine_server:
        await asyncio.to_thread(
            recognize,
            sdk_server.url_v2,
            audio,
            voice="de-DE-KatjaNeural",
            phrases=("Contoso",),
            profanity=speechsdk.ProfanityOption.Removed,
        )
        await run_engine(engine_server.url_v2, audio, phrases=("Contoso",), profanity="removed",
                         speech_languages=frozenset({"de"}))  # fmt: skip
    sdk, engine = sdk_server.connections[0], engine_server.connections[0]
    assert (engine.path, engine.query) == (sdk.path, sdk.query) == ("/stt/speech/universal/v2", {})
    assert engine.contexts[0] == sdk.contexts[0]
