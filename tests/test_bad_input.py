"""Bad input gets its documented error or close code, and everyone else keeps being served."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from channels.testing import WebsocketCommunicator
from django.conf import settings

from captions import protocol
from presenter_site.asgi import application
from tests.conftest import listener, presenter
from tests.fake_engine import silence, tone
from tests.test_pipeline import join, receive_until, speak, start_presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


async def closed_with(comm) -> int:
    """The close code the application sent; then the socket's end reaches it, as a server's
    would, so the consumer (and its channel-layer read) finishes within the test."""
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            await comm.disconnect(code=output["code"])
            return output["code"]


async def test_a_wrong_presenter_key_is_refused_with_4001(event):
    comm = presenter(event, key="not-the-key")
    connected, _ = await comm.connect()
    assert connected
    message = json.loads(await comm.receive_from())
    assert message["code"] == "unauthorized"
    assert await closed_with(comm) == protocol.CLOSE_UNAUTHORIZED


async def test_a_missing_presenter_key_is_refused_with_4001(event):
    comm = presenter(event, key="")
    await comm.connect()
    assert await closed_with(comm) == protocol.CLOSE_UNAUTHORIZED


async def test_an_organizers_login_may_present_without_the_key(event):
    from django.contrib.auth.models import User

    from captions.consumers import PresenterConsumer

    staff = await User.objects.acreate(username="organizer", is_staff=True)
    await event.organizers.aadd(staff)  # staff alone is not enough (tests/test_access.py)
    # What AuthMiddlewareStack puts in the scope for a staff session cookie.
    comm = WebsocketCommunicator(PresenterConsumer.as_asgi(), "/")
    comm.scope.update(user=staff, url_route={"kwargs": {"slug": event.slug}})
    connected, _ = await comm.connect()
    assert connected
    assert json.loads(await comm.receive_from())["type"] == "status"
    await comm.disconnect()


async def test_an_unknown_event_is_closed_with_4004(db):
    for comm in (
        listener("nosuch", "es"),
        WebsocketCommunicator(
            application,
            "/ws/events/nosuch/presenter/?key=x",
            headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
        ),
    ):
        await comm.connect()
        assert await closed_with(comm) == protocol.CLOSE_EVENT_NOT_FOUND


async def test_a_language_the_event_does_not_offer_is_closed_with_4005(event):
    comm = listener(event.slug, "de")
    await comm.connect()
    message = json.loads(await comm.receive_from())
    assert message["code"] == "language_not_offered"
    assert await closed_with(comm) == protocol.CLOSE_LANGUAGE_NOT_OFFERED


async def test_a_foreign_origin_is_refused_at_the_handshake(event):
    comm = WebsocketCommunicator(
        application,
        f"/ws/events/{event.slug}/audience/es/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"localhost")],
    )
    probe = redis.Redis.from_url(settings.REDIS_URL)
    blocked_before = probe.info("clients")["blocked_clients"]
    connected, _ = await comm.connect()
    assert not connected
    # The refusal has no channel layer: it does not leave a blocking Redis read behind.
    await asyncio.sleep(0.2)
    assert probe.info("clients")["blocked_clients"] == blocked_before
    probe.close()
    await comm.wait()


@pytest.mark.parametrize("path", ["/ws/nowhere/", "/ws/events/abc/audience/x/", "/ws/"])
async def test_an_unknown_websocket_path_is_refused_at_the_handshake(path):
    comm = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    connected, _ = await comm.connect()
    assert not connected
    await comm.wait()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes(protocol.MAX_AUDIO_FRAME + 2), "frame_too_large"),
        (bytes(3201), "odd_frame"),
        (b"", "empty_frame"),
    ],
)
async def test_bad_audio_frames_get_an_error_and_the_stream_goes_on(event, frame, code):
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speaker.send_input({"type": "websocket.receive", "bytes": frame})
    message = await receive_until(speaker, lambda m: m["type"] == "error")
    assert message[-1]["code"] == code
    await speak(speaker, 1)
    finals = await receive_until(spanish, lambda m: m.get("final"))
    assert finals[-1]["text"] == "[es] alpha"
    await spanish.disconnect()
    await speaker.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "preview"}', "malformed_message"),
        ('{"type": "start", "pad": "' + "x" * 5000 + '"}', "message_too_large"),
    ],
)
async def test_bad_control_messages_get_an_error_and_the_connection_stays(event, text, code):
    speaker = presenter(event)
    await speaker.connect()
    await speaker.send_to(text_data=text)
    message = await receive_until(speaker, lambda m: m["type"] == "error")
    assert message[-1]["code"] == code
    await speaker.send_json_to({"type": "ping"})
    await receive_until(speaker, lambda m: m["type"] == "pong")
    await speaker.disconnect()


async def test_audio_before_start_is_refused_with_not_live(event):
    speaker = presenter(event)
    await speaker.connect()
    await speaker.send_to(bytes_data=tone(0.1))
    message = await receive_until(speaker, lambda m: m["type"] == "error")
    assert message[-1]["code"] == "not_live"
    await speaker.disconnect()


async def test_a_listener_that_sends_data_gets_an_error_and_keeps_its_captions(event):
    chatty, _ = await join(event.slug, "es")
    quiet, _ = await join(event.slug, "es")
    await chatty.send_to(text_data='{"type": "start"}')
    await chatty.send_to(bytes_data=silence(0.1))
    for _ in range(2):
        assert json.loads(await chatty.receive_from())["code"] == "read_only"
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    for comm in (chatty, quiet):
        finals = await receive_until(comm, lambda m: m.get("final"))
        assert finals[-1]["text"] == "[es] alpha"
        await comm.disconnect()
    await speaker.disconnect()


async def test_an_ended_event_refuses_presenters_with_4010(event):
    event.status = "ended"
    await event.asave()
    comm = presenter(event)
    await comm.connect()
    assert await closed_with(comm) == protocol.CLOSE_EVENT_ENDED
