"""Hostile input on both sockets, written as the attacks were: clear errors, no crash, no leak."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from channels.testing import WebsocketCommunicator

from captions import events, lease, presence
from captions.fanout import get_hub, stream_name
from captions.live import LiveEvent
from captions.models import Event, EventStatus
from presenter_site.asgi import application
from tests.conftest import presenter
from tests.fake_engine import tone
from tests.test_bad_input import closed_with
from tests.test_pipeline import join, receive_until, start_presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


def socket(path: str, origin: bytes, host: bytes = b"localhost") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[(b"origin", origin), (b"host", host)])


async def test_deeply_nested_json_gets_an_error_and_the_presenter_stays_connected(event):
    speaker = presenter(event)
    await speaker.connect()
    await speaker.send_to(text_data="[" * 2000 + "]" * 2000)
    errors = await receive_until(speaker, lambda m: m["type"] == "error")
    assert errors[-1]["code"] == "malformed_json"
    await speaker.send_json_to({"type": "ping"})
    await receive_until(speaker, lambda m: m["type"] == "pong")
    await speaker.disconnect()


async def test_a_resume_point_in_unicode_digits_is_ignored_not_a_crash(event):
    comm, history = await join(event.slug, "es", "after=%C2%B2")  # "²".isdigit() is True
    assert history[-1] == {"type": "history_end", "last_seq": None}
    await comm.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        b"http://[",  # urlparse raised ValueError: a traceback and a dropped connection
        b"http://localhost:99999",
        b"null",
        b"http://localhost/path",
        b"http://user@localhost",
        b"\xff\xfe",
    ],
)
async def test_a_malformed_origin_is_refused_at_the_handshake(event, origin):
    comm = socket(f"/ws/events/{event.slug}/audience/es/", origin)
    connected, _ = await comm.connect()
    assert not connected
    await comm.wait()


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (b"http://localhost:3000", b"localhost"),  # another port on the same host
        (b"https://localhost", b"localhost"),  # another scheme
        (b"http://127.0.0.1:9999", b"127.0.0.1:8000"),
        (b"http://127.0.0.1:8000", b"localhost:8000"),  # another host than the page's
    ],
)
async def test_an_origin_of_another_port_scheme_or_host_cannot_open_a_presenter_socket(
    event, origin, host
):
    comm = socket(f"/ws/events/{event.slug}/presenter/?key={event.presenter_key}", origin, host)
    connected, _ = await comm.connect()
    assert not connected
    await comm.wait()


async def test_the_exact_origin_of_the_page_is_accepted(event):
    comm = socket(
        f"/ws/events/{event.slug}/audience/es/", b"http://localhost:8000", b"localhost:8000"
    )
    connected, _ = await comm.connect()
    assert connected
    await comm.disconnect()


async def test_a_trusted_origin_behind_a_proxy_is_accepted_exactly(event, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://captions.example.org"]
    path = f"/ws/events/{event.slug}/audience/es/"
    accepted = socket(path, b"https://captions.example.org", b"localhost")
    assert (await accepted.connect())[0]
    await accepted.disconnect()
    for origin in (b"https://captions.example.org:8443", b"http://captions.example.org"):
        refused = socket(path, origin, b"localhost")
        assert not (await refused.connect())[0]
        await refused.wait()


@pytest.mark.parametrize("role", ["presenter/", "audience/es/"])
async def test_a_slug_longer_than_any_event_is_refused_before_any_lookup(db, role):
    comm = socket(f"/ws/events/{'a' * 7000}/{role}", b"http://localhost")
    connected, _ = await comm.connect()
    assert not connected
    await comm.wait()


def test_http_pages_refuse_overlong_slugs_and_languages(client, event):
    assert client.get(f"/e/{'a' * 7000}/").status_code == 404
    assert client.get(f"/e/{event.slug}/display/{'x' * 100}/").status_code == 404


async def test_random_slugs_cannot_grow_the_event_cache_past_its_bound(db):
    events._event_cache.clear()
    for _ in range(events.EVENT_CACHE_SIZE + 500):
        await events.load_event_cached(secrets.token_hex(16))
    assert len(events._event_cache) == events.EVENT_CACHE_SIZE


async def test_an_unexpected_failure_in_the_presenter_consumer_still_cleans_up(event, monkeypatch):
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)

    async def broken_audio(self, frame: bytes) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LiveEvent, "audio", broken_audio)
    await speaker.send_to(bytes_data=tone(0.1))
    assert await closed_with(speaker) == 1011
    # The full cleanup ran: the lease is free, the event no longer live, listeners told.
    assert await lease.holder(event.id) is None
    assert (await Event.objects.aget(pk=event.pk)).status == EventStatus.PAUSED
    await receive_until(spanish, lambda m: m.get("status") == "paused")
    await spanish.disconnect()


async def test_an_unexpected_failure_in_a_listener_consumer_still_counts_it_out(event, monkeypatch):
    from captions.consumers import AudienceConsumer

    async def broken_receive(self, text_data=None, bytes_data=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(AudienceConsumer, "receive", broken_receive)
    comm, _ = await join(event.slug, "es")
    assert presence._local[event.id]["es"] == 1
    await comm.send_to(text_data="hello")
    assert await closed_with(comm) == 1011
    assert presence._local[event.id]["es"] == 0
    assert get_hub().listener_count(stream_name(event.id, "es")) == 0
    await comm.wait()


async def test_joiners_arriving_together_share_one_event_lookup(event, monkeypatch):
    calls = 0
    original = events.load_event

    async def counted(slug):
        nonlocal calls
        calls += 1
        return await original(slug)

    monkeypatch.setattr(events, "load_event", counted)
    events._event_cache.clear()
    found = await asyncio.gather(*(events.load_event_cached(event.slug) for _ in range(50)))
    assert calls == 1
    assert {info.id for info in found} == {event.id}
