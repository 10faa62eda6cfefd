"""Scoped access, tried as an attacker would: unpermitted staff, other organizers, old keys."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User
from django.test import Client

from captions import protocol
from captions.models import Caption, Event, EventLanguage, EventStatus
from presenter_site.asgi import application
from tests.conftest import presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

# What an organizer's group holds: the admin's model permissions, which open the panel.
PANEL_PERMISSIONS = [
    "view_event",
    "change_event",
    "add_event",
    "delete_event",
    "view_caption",
    "change_caption",
    "add_eventlanguage",
    "change_eventlanguage",
    "delete_eventlanguage",
    "view_eventlanguage",
]


def staff_user(username: str, *permissions: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="captions", codename__in=permissions)
    )
    return user


def organizer(username: str, *events: Event) -> User:
    user = staff_user(username, *PANEL_PERMISSIONS)
    for event in events:
        event.organizers.add(user)
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def other_event(title: str = "Other talk") -> Event:
    event = Event.objects.create(title=title, source_language="en")
    EventLanguage.objects.create(event=event, code="es")
    Caption.objects.create(
        event=event, seq=1, language="es", text="secreto", source_text="secret", start=0, end=1
    )
    return event


async def presenter_with_login(event: Event, user: User) -> WebsocketCommunicator:
    """The presenter page opened without a key by someone logged in to the admin."""
    client = await sync_to_async(logged_in)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(
        application,
        f"/ws/events/{event.slug}/presenter/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
        subprotocols=[protocol.PRESENTER_SUBPROTOCOL],
    )


async def refusal(comm: WebsocketCommunicator) -> tuple[list[dict], int]:
    """The messages a socket got before it was closed, and the close code."""
    messages = []
    while (output := await comm.receive_output(timeout=5))["type"] != "websocket.close":
        messages.append(json.loads(output["text"]))
    return messages, output["code"]


async def until(comm: WebsocketCommunicator, predicate) -> dict:
    """The first message that satisfies ``predicate``."""
    while not predicate(message := json.loads(await comm.receive_from(timeout=5))):
        pass
    return message


async def greeted(comm: WebsocketCommunicator) -> None:
    connected, subprotocol = await comm.connect()
    assert connected
    assert subprotocol == protocol.PRESENTER_SUBPROTOCOL
    assert json.loads(await comm.receive_from(timeout=5))["type"] == "status"


# ---- presenting, ending, downloading ---------------------------------------------------------


async def test_a_staff_login_without_permission_cannot_present_or_end_an_event(event):
    """Staff status alone opens no presenter socket, so no "stop" can end the event."""
    nobody = await database_sync_to_async(staff_user)("staff")
    comm = await presenter_with_login(event, nobody)
    await comm.connect()
    messages, code = await refusal(comm)
    assert code == protocol.CLOSE_UNAUTHORIZED
    assert messages[-1]["code"] == "unauthorized"
    await comm.send_json_to({"type": "stop"})
    await comm.disconnect(code=code)
    await event.arefresh_from_db()
    assert event.status == EventStatus.WAITING


def test_a_staff_login_without_permission_cannot_end_an_event_in_the_admin(event):
    client = logged_in(staff_user("staff"))
    response = client.post(
        f"/admin/captions/event/{event.pk}/change/", {"title": event.title, "status": "ended"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == EventStatus.WAITING


def test_a_staff_login_without_permission_cannot_download_transcripts(event):
    Caption.objects.create(
        event=event, seq=1, language="es", text="hola", source_text="hi", start=0, end=1
    )
    client = logged_in(staff_user("staff", *PANEL_PERMISSIONS))  # the panel, not the event
    for fmt in ("txt", "srt", "vtt"):
        response = client.get(f"/e/{event.slug}/transcript/es.{fmt}")
        assert response.status_code == 403
        assert b"hola" not in response.content


async def test_an_organizers_login_presents_their_own_event_without_a_key(event):
    user = await database_sync_to_async(organizer)("organizer", event)
    comm = await presenter_with_login(event, user)
    await greeted(comm)
    await comm.send_json_to({"type": "start"})
    await until(comm, lambda m: m.get("status") == "live")
    await comm.disconnect()


async def test_the_present_permission_opens_any_event_without_a_key(event):
    user = await database_sync_to_async(staff_user)("av-team", "present_event")
    comm = await presenter_with_login(event, user)
    await greeted(comm)
    await comm.disconnect()


def test_organizers_and_the_export_permission_download_transcripts(event):
    Caption.objects.create(
        event=event, seq=1, language="es", text="hola", source_text="hi", start=0, end=1
    )
    for user in (organizer("organizer", event), staff_user("archivist", "export_transcript")):
        response = logged_in(user).get(f"/e/{event.slug}/transcript/es.txt")
        assert response.status_code == 200
        assert b"hola" in response.content


# ---- one organizer, another's events ---------------------------------------------------------


def test_an_organizer_does_not_see_another_organizers_event_in_the_admin(event):
    theirs = other_event()
    organizer("b", theirs)
    client = logged_in(organizer("a", event))
    changelist = client.get("/admin/captions/event/").content.decode()
    assert event.title in changelist
    assert theirs.title not in changelist
    assert theirs.presenter_key not in changelist
    change = client.get(f"/admin/captions/event/{theirs.pk}/change/", follow=True)
    assert theirs.presenter_key not in change.content.decode()
    assert "doesn’t exist" in change.content.decode()


def test_an_organizer_cannot_change_delete_or_rotate_another_organizers_event(event):
    theirs = other_event()
    client = logged_in(organizer("a", event))
    old_key = theirs.presenter_key
    client.post(f"/admin/captions/event/{theirs.pk}/change/", {"title": "x", "status": "ended"})
    client.post(f"/admin/captions/event/{theirs.pk}/delete/", {"post": "yes"})
    rotate = client.post(f"/admin/captions/event/{theirs.pk}/rotate-key/")
    client.post(
        "/admin/captions/event/",
        {"action": "rotate_presenter_keys", "_selected_action": [theirs.pk]},
    )
    assert rotate.status_code == 404
    theirs.refresh_from_db()
    assert (theirs.title, theirs.status, theirs.presenter_key) == (
        "Other talk",
        EventStatus.WAITING,
        old_key,
    )


def test_an_organizer_does_not_see_another_organizers_captions_or_event_names(event):
    theirs = other_event("Board meeting")
    client = logged_in(organizer("a", event))
    captions = client.get("/admin/captions/caption/").content.decode()
    assert "secreto" not in captions
    assert "Board meeting" not in captions  # not even in the event filter
    caption = theirs.captions.get()
    assert client.get(f"/admin/captions/caption/{caption.pk}/change/").status_code == 302
    assert client.get(f"/e/{theirs.slug}/transcript/es.txt").status_code == 403


def test_a_superuser_sees_every_event(event):
    theirs = other_event()
    client = logged_in(User.objects.create_superuser("root", "r@example.org", "pw"))
    changelist = client.get("/admin/captions/event/").content.decode()
    assert event.title in changelist and theirs.title in changelist


# ---- key rotation ----------------------------------------------------------------------------


async def test_rotating_the_key_closes_a_presenter_connected_with_the_old_one_within_2_s(event):
    """The old key's presenter is cut off mid-talk, and its later "stop" ends nothing."""
    speaker = presenter(event)
    await greeted(speaker)
    await speaker.send_json_to({"type": "start"})
    await until(speaker, lambda m: m.get("status") == "live")
    loop = asyncio.get_running_loop()
    rotated_at = loop.time()
    await database_sync_to_async(event.rotate_presenter_key)()
    messages, code = await refusal(speaker)
    assert loop.time() - rotated_at < 2.0
    assert code == protocol.CLOSE_UNAUTHORIZED
    assert {"type": "error", "code": "unauthorized"}.items() <= messages[-1].items()
    await speaker.send_json_to({"type": "stop"})
    await speaker.disconnect(code=code)
    await event.arefresh_from_db()
    assert event.status == EventStatus.PAUSED  # as for any presenter that left; not ended


async def test_rotating_the_key_leaves_a_presenter_with_a_login_connected(event):
    user = await database_sync_to_async(organizer)("organizer", event)
    comm = await presenter_with_login(event, user)
    await greeted(comm)
    await until(comm, lambda m: m["type"] == "listeners")
    await database_sync_to_async(event.rotate_presenter_key)()
    assert await comm.receive_nothing(timeout=2.5)
    await comm.send_json_to({"type": "ping"})
    await until(comm, lambda m: m["type"] == "pong")
    await comm.disconnect()


async def test_the_new_key_presents_after_a_rotation_and_the_old_one_is_refused(event):
    old = event.presenter_key
    new = await database_sync_to_async(event.rotate_presenter_key)()
    refused = presenter(event, key=old)
    await refused.connect()
    assert (await refusal(refused))[1] == protocol.CLOSE_UNAUTHORIZED
    await refused.disconnect()
    accepted = presenter(event, key=new)
    await greeted(accepted)
    await accepted.disconnect()


async def test_a_key_in_the_query_string_no_longer_opens_the_presenter_socket(event):
    """Old ?key= links would put the key in access logs: the socket ignores them."""
    comm = WebsocketCommunicator(
        application,
        f"/ws/events/{event.slug}/presenter/?key={event.presenter_key}",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    await comm.connect()
    assert (await refusal(comm))[1] == protocol.CLOSE_UNAUTHORIZED
    await comm.disconnect()
