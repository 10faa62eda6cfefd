"""Abuse limits, tried as an attacker would: key guessing, socket floods, fake listeners, logins."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import websockets
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from captions import limits, protocol
from captions.engines import get_engine
from captions.models import Event, EventLanguage
from tests.conftest import listener, presenter
from tests.fake_engine import silence, tone
from tests.servers import server_set
from tests.test_multiprocess import connect, create_event

pytestmark = pytest.mark.timeout(60)

ATTACKER = "203.0.113.7"


def from_address(comm, address: str):
    """The same socket as a server would see it from ``address``."""
    comm.scope["client"] = (address, 40000)
    return comm


async def closed_with(comm) -> tuple[list[dict], int]:
    """The messages before the close, and its code."""
    messages = []
    while (output := await comm.receive_output(timeout=5))["type"] != "websocket.close":
        messages.append(json.loads(output["text"]))
    await comm.disconnect(code=output["code"])
    return messages, output["code"]


async def try_key(event: Event, key: str, address: str) -> tuple[list[dict], int | None]:
    """One presenter connection attempt; the close code, or None if it was let in."""
    comm = from_address(presenter(event, key=key), address)
    await comm.connect()
    first = json.loads(await comm.receive_from(timeout=5))
    if first["type"] == "status":
        await comm.disconnect()
        return [first], None
    messages, code = await closed_with(comm)
    return [first, *messages], code


async def join_from(address: str, event: Event, language: str = "es", query: str = ""):
    """A listener from ``address``: (communicator, None) if let in, else (None, close code)."""
    comm = from_address(listener(event.slug, language, query), address)
    await comm.connect()
    first = json.loads(await comm.receive_from(timeout=5))
    if first.get("code") == "too_many_listeners":
        _, code = await closed_with(comm)
        return None, code
    return comm, None


# ---- presenter keys ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_after_ten_wrong_keys_an_address_is_refused_even_with_the_right_key(event):
    for attempt in range(10):
        _, code = await try_key(event, f"guess{attempt}", ATTACKER)
        assert code == protocol.CLOSE_UNAUTHORIZED
    messages, code = await try_key(event, event.presenter_key, ATTACKER)
    assert code == protocol.CLOSE_TOO_MANY_ATTEMPTS
    assert messages[-1]["code"] == "too_many_attempts"
    assert (await try_key(event, event.presenter_key, "198.51.100.20"))[1] is None


@pytest.mark.django_db(transaction=True)
async def test_wrong_keys_for_one_event_from_many_addresses_are_limited_too(event, settings):
    settings.PRESENTER_KEY_FAILURES_PER_EVENT = 5
    for n in range(5):
        assert (await try_key(event, "guess", f"198.51.100.{n}"))[1] == protocol.CLOSE_UNAUTHORIZED
    _, code = await try_key(event, "guess", "198.51.100.99")
    assert code == protocol.CLOSE_TOO_MANY_ATTEMPTS


def test_an_ipv6_client_counts_by_its_64_and_an_ipv4_mapped_one_as_ipv4():
    scope = {"client": ("2001:db8:1:2:aaaa::1", 1)}
    assert limits.client_address(scope) == "2001:db8:1:2::/64"
    assert limits.client_address({"client": ("::ffff:192.0.2.1", 1)}) == "192.0.2.1"
    assert limits.client_address({"client": None}) is None


# ---- listener sockets ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_one_address_cannot_open_more_listener_sockets_than_its_cap(event, settings):
    settings.LISTENERS_PER_ADDRESS = 3
    admitted = [(await join_from(ATTACKER, event))[0] for _ in range(3)]
    assert all(admitted)
    assert await join_from(ATTACKER, event) == (None, protocol.CLOSE_TOO_MANY_LISTENERS)
    neighbour, _ = await join_from("198.51.100.30", event)
    assert neighbour is not None
    await admitted.pop().disconnect()
    again, _ = await join_from(ATTACKER, event)  # one left: one more fits
    assert again is not None
    for comm in (*admitted, neighbour, again):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_event_stops_taking_listeners_at_its_cap(event, settings):
    settings.LISTENERS_PER_EVENT = 2
    first, _ = await join_from("198.51.100.1", event)
    second, _ = await join_from("198.51.100.2", event, "fr")
    assert first and second
    assert await join_from("198.51.100.3", event) == (None, protocol.CLOSE_TOO_MANY_LISTENERS)
    for comm in (first, second):
        await comm.disconnect()


def test_a_hall_of_phones_behind_one_nat_address_is_let_in():
    counts = limits.ListenerCounts()
    for _ in range(499):
        assert counts.refusal(1, "192.0.2.1") is None
        counts.add(1, "192.0.2.1", 1)
    assert counts.refusal(1, "192.0.2.1") is None  # the 500th
    counts.add(1, "192.0.2.1", 1)
    assert counts.refusal(1, "192.0.2.1") is not None


# ---- speech ---------------------------------------------------------------------------------


async def live_presenter(event: Event):
    comm = presenter(event)
    await comm.connect()
    await comm.send_json_to({"type": "start"})
    while json.loads(await comm.receive_from(timeout=5)).get("status") != "live":
        pass
    return comm


@pytest.mark.django_db(transaction=True)
async def test_fake_listeners_cannot_switch_speech_on_for_a_language_not_offered(db):
    event = await Event.objects.acreate(title="Talk", source_language="en")
    await EventLanguage.objects.acreate(event=event, code="es")  # speech not offered
    fakes = [(await join_from(f"198.51.100.{n}", event, query="speech=1"))[0] for n in range(20)]
    speaker = await live_presenter(event)
    session = get_engine().sessions[-1]
    assert session.speech_languages == set()
    for frame in (tone(0.1), silence(0.1)):
        await speaker.send_to(bytes_data=frame)
    await asyncio.sleep(2.5)  # a counts report (every 2 s) would switch it on now
    assert session.speech_languages == set()
    for comm in (*fakes, speaker):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_speech_the_organizer_offers_starts_when_a_listener_asks(db):
    event = await Event.objects.acreate(title="Talk", source_language="en")
    spanish = await EventLanguage.objects.acreate(event=event, code="es")
    listening, _ = await join_from("198.51.100.1", event, query="speech=1")
    speaker = await live_presenter(event)
    session = get_engine().sessions[-1]
    assert session.speech_languages == set()
    spanish.speech = True
    await database_sync_to_async(spanish.save)()
    for _ in range(30):  # the organizer's settings are read every second
        if session.speech_languages == {"es"}:
            break
        await asyncio.sleep(0.1)
    assert session.speech_languages == {"es"}
    for comm in (listening, speaker):
        await comm.disconnect()


# ---- admin logins ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_logins_lock_out_after_ten_wrong_passwords_for_that_user_only(client):
    User.objects.create_superuser("boss", "b@example.org", "right-password")
    User.objects.create_superuser("colleague", "c@example.org", "other-password")
    for _ in range(10):
        client.post("/admin/login/", {"username": "boss", "password": "guess"})
    response = client.post("/admin/login/", {"username": "boss", "password": "right-password"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # A colleague behind the same address (a venue's NAT) still gets in.
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "colleague", "password": "other-password"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


# ---- across server processes ----------------------------------------------------------------


@pytest.fixture
def servers(tmp_path):
    servers = server_set(tmp_path, LISTENERS_PER_ADDRESS="6")
    yield servers
    servers.stop_all()


async def close_code(socket) -> int:
    """The code of a socket the server closes at once (after its error message)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    return closed.value.rcvd.code


async def test_limits_hold_across_server_processes(servers):
    """Wrong keys counted on one process refuse keys on another; listener caps add up."""
    slug, key = create_event(servers)
    port_a, port_b = servers.start(), servers.start(server="uvicorn-sansio")
    presenter_path = f"/ws/events/{slug}/presenter/"
    for n in range(10):
        async with connect(port_a, presenter_path, f"guess{n}") as socket:
            assert await close_code(socket) == protocol.CLOSE_UNAUTHORIZED
    async with connect(port_b, presenter_path, key) as socket:
        assert await close_code(socket) == protocol.CLOSE_TOO_MANY_ATTEMPTS

    path = f"/ws/events/{slug}/audience/es/"
    async with contextlib.AsyncExitStack() as stack:
        for port in (port_a, port_a, port_a, port_b, port_b, port_b):
            await stack.enter_async_context(connect(port, path))
        await asyncio.sleep(5)  # each process swaps its counts every 2 s
        for port in (port_a, port_b):
            async with connect(port, path) as socket:
                assert await close_code(socket) == protocol.CLOSE_TOO_MANY_LISTENERS
