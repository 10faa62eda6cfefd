"""Shared fixtures: events in the database, WebSocket clients through the real ASGI app."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from captions import limits, protocol
from captions.engines import reset_engine
from captions.models import Event, EventLanguage
from presenter_site.asgi import application


@pytest.fixture(scope="module")
def playwright():
    """Playwright's driver, for the browser tests (which skip where it is not installed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright, tmp_path_factory):
    """Debian's Chromium whose microphone plays the scripted engine's two utterances."""
    from tests import browser

    wav = browser.scripted_speech_wav(tmp_path_factory.mktemp("mic") / "speech.wav")
    chromium = browser.launch(playwright, wav)
    yield chromium
    chromium.close()


@pytest.fixture(autouse=True)
def _fresh_engine():
    reset_engine()
    yield
    reset_engine()


@pytest.fixture(autouse=True)
def _no_listener_left_open():
    """Fail the test that leaves a listener socket of this process open (a communicator never
    disconnected): its count would keep the process's listener-count refreshers
    (captions/limits.py) running into later tests, whose event loops then may not close."""
    yield
    left = dict(limits._counts.by_event)
    if left:
        limits._counts.by_event.clear()
        limits._counts.by_address.clear()
        pytest.fail(f"listener sockets left open (event id: count): {left}")


@pytest.fixture
def private_redis(tmp_path, settings):
    """A Redis server of this test's own, which it may stop, freeze and restart; the app's
    Redis client (captions/redis_client.py) talks to it."""
    from tests.faultkit import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _clean_test_keys():
    """Remove this run's Redis keys afterwards."""
    yield
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (
        settings.CAPTIONS_REDIS_PREFIX + ":*",
        settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi") + "*",
    ):
        for name in client.scan_iter(match=pattern, count=1000):
            client.delete(name)


@pytest.fixture
def event(db) -> Event:
    """An English talk offered in Spanish and French, with speech."""
    event = Event.objects.create(title="Keynote", source_language="en")
    for code in ("es", "fr"):
        EventLanguage.objects.create(event=event, code=code, speech=True)
    return event


def presenter(event: Event, key: str | None = None) -> WebsocketCommunicator:
    """A presenter socket, its key offered as a subprotocol as the page does."""
    key = event.presenter_key if key is None else key
    return WebsocketCommunicator(
        application,
        f"/ws/events/{event.slug}/presenter/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
        subprotocols=protocol.presenter_subprotocols(key),
    )


def listener(event_slug: str, language: str, query: str = "") -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/events/{event_slug}/audience/{language}/{'?' + query if query else ''}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
