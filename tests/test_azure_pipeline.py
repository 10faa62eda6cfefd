"""The whole pipeline with the Azure engine: presenter socket, local Azure server, listeners."""

from __future__ import annotations

import pytest

from tests.azure_server import AzureTestServer, Fault, say
from tests.test_pipeline import client_get, join, receive_until, start_presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

FRAME_BYTES = 3200  # 100 ms, as the browser sends


@pytest.fixture
async def azure(settings):
    """A local Azure server, and the Azure engine selected and pointed at it."""
    async with AzureTestServer() as server:
        settings.CAPTION_ENGINE = {
            "BACKEND": "azure",
            "OPTIONS": {"key": server.key, "endpoint": server.url, "backoff": 0.01},
        }
        yield server


async def talk(comm, audio: bytes) -> None:
    for start in range(0, len(audio), FRAME_BYTES):
        await comm.send_to(bytes_data=audio[start : start + FRAME_BYTES])


def final(text: str):
    return lambda m: m.get("type") == "caption" and m["final"] and m["text"] == text


async def test_listeners_get_azure_captions_and_speech_in_their_language(event, azure, client):
    spanish, _ = await join(event.slug, "es", "speech=1")
    french, _ = await join(event.slug, "fr")
    speaker = await start_presenter(event)
    await talk(speaker, say("hello", "everyone") + say("welcome", "to", "the", "keynote"))
    await receive_until(french, final("[fr] hello everyone"))
    await receive_until(french, final("[fr] welcome to the keynote"))
    messages = await receive_until(spanish, lambda m: m["type"] == "speech")
    assert any(m.get("text") == "[es] hello everyone" for m in messages)
    response = await client_get(client, messages[-1]["url"])
    assert b"es-ES-ElviraNeural|[es] hello everyone" in response.content
    assert azure.errors == []
    for comm in (spanish, french, speaker):
        await comm.disconnect()


async def test_a_dropped_azure_connection_costs_listeners_no_final_and_tells_the_presenter(
    event, azure
):
    azure.faults.append(Fault("drop", after_finals=1, after_partials=2))
    french, _ = await join(event.slug, "fr")
    speaker = await start_presenter(event)
    audio = say("hello", "everyone") + say("welcome", "to", "the", "keynote") + say("you")
    await talk(speaker, audio)
    messages = await receive_until(french, final("[fr] you"))
    finals = [m["text"] for m in messages if m.get("type") == "caption" and m["final"]]
    assert finals == ["[fr] hello everyone", "[fr] welcome to the keynote", "[fr] you"]
    previews = await receive_until(speaker, lambda m: m.get("state") == "reconnecting", 200)
    assert previews[-1]["type"] == "engine"
    assert len(azure.connections) == 2
    for comm in (french, speaker):
        await comm.disconnect()
