"""The control room: corrections, conflicts, permissions, bad input, hold, glossary, stable mode."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from captions import corrections, exports, lease, protocol
from captions.control import parse_command
from captions.corrections import CorrectionError
from captions.engines import get_engine
from captions.models import Caption, CaptionRevision, Event, GlossaryTerm
from presenter_site.asgi import application
from tests.test_access import logged_in, organizer, refusal, staff_user
from tests.test_pipeline import join, receive_until, speak, start_presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


async def control_room(event: Event, user: User | None) -> WebsocketCommunicator:
    """The control room's socket, opened by ``user`` (None: nobody logged in)."""
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        client: Client = await sync_to_async(logged_in)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, f"/ws/events/{event.slug}/control/", headers=headers)


async def moderator(event: Event, name: str = "mod") -> tuple[WebsocketCommunicator, list[dict]]:
    """An organizer's control room, connected, with the history it was sent."""
    user = await database_sync_to_async(organizer)(name, event)
    comm = await control_room(event, user)
    connected, _ = await comm.connect()
    assert connected
    greeting = await receive_until(comm, lambda m: m["type"] == "history_end")
    return comm, greeting


def store(event: Event, seq: int, text: str, *, held_for: float | None = None) -> None:
    """A stored final in every language, as the relay stores one."""
    release_at = timezone.now() + timedelta(seconds=held_for) if held_for is not None else None
    for language in event.audience_language_codes():
        shown = text if language == event.source_language else f"[{language}] {text}"
        Caption.objects.create(
            event=event,
            seq=seq,
            language=language,
            text=shown,
            source_text=text,
            start=seq,
            end=seq + 0.5,
            release_at=release_at,
        )
    Event.objects.filter(pk=event.pk).update(last_seq=seq)


async def until(comm, predicate) -> dict:
    """The first message that satisfies ``predicate``."""
    return (await receive_until(comm, predicate))[-1]


async def correct(comm, seq: int, base: int, text: str) -> dict:
    await comm.send_json_to({"type": "correct", "seq": seq, "base": base, "text": text})
    return await until(comm, lambda m: m["type"] in ("corrected", "error"))


async def test_anonymous_and_staff_who_do_not_organize_the_event_are_refused(event):
    for user in (None, await database_sync_to_async(staff_user)("bystander")):
        comm = await control_room(event, user)
        connected, _ = await comm.connect()
        assert connected  # accepted, then told why and closed
        messages, code = await refusal(comm)
        assert code == protocol.CLOSE_UNAUTHORIZED
        assert messages[0]["code"] == "unauthorized" and messages[0]["fatal"]


async def test_an_unknown_event_closes_with_4004(event):
    await database_sync_to_async(Event.objects.filter(pk=event.pk).update)(slug="gone")
    comm = await control_room(event, None)
    await comm.connect()
    _, code = await refusal(comm)
    assert code == protocol.CLOSE_EVENT_NOT_FOUND


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{", "malformed_json"),
        ("[]", "malformed_message"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "correct", "seq": "1", "base": 0, "text": "x"}', "malformed_message"),
        ('{"type": "correct", "seq": true, "base": 0, "text": "x"}', "malformed_message"),
        ('{"type": "correct", "seq": 1, "base": -1, "text": "x"}', "malformed_message"),
        ('{"type": "correct", "seq": 1, "base": 0, "text": "  "}', "empty_text"),
        ('{"type": "correct", "seq": 1, "base": 0, "text": "' + "a" * 1001 + '"}', "text_too_long"),
        (
            '{"type": "correct", "seq": 1, "base": 0, "text": "' + "a" * 5000 + '"}',
            "message_too_large",
        ),
        ('{"type": "hold", "seconds": 31}', "malformed_message"),
        ('{"type": "glossary", "term": ""}', "malformed_message"),
        ('{"type": "glossary", "term": "X", "translations": []}', "malformed_message"),
    ],
)
def test_bad_commands_get_a_documented_error_code(frame, code):
    """Every malformed command is refused with its code, before any I/O."""
    with pytest.raises(CorrectionError) as refused:
        parse_command(frame)
    assert refused.value.code == code


async def test_bad_input_on_the_socket_is_answered_and_the_room_stays_open(event):
    comm, _ = await moderator(event)
    await comm.send_to(text_data='{"type": "correct", "seq": 99, "base": 0, "text": "x"}')
    assert (await until(comm, lambda m: m["type"] == "error"))["code"] == "no_such_caption"
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await until(comm, lambda m: m["type"] == "error"))["code"] == ("malformed_message")
    await comm.send_json_to({"type": "glossary", "term": "Contoso", "translations": {"xx": "Y"}})
    error = await until(comm, lambda m: m["type"] == "error")
    assert error["code"] == "language_not_offered"
    await comm.send_json_to({"type": "ping"})
    await until(comm, lambda m: m["type"] == "pong")
    await comm.disconnect()


async def test_a_correction_reaches_listeners_as_a_revision_and_the_export_holds_it(event):
    spanish, _ = await join(event.slug, "es")
    room, _ = await moderator(event)
    speaker = await start_presenter(event)
    await speak(speaker, 2)
    shown = await until(room, lambda m: m["type"] == "final")
    assert shown["text"] == "alpha bravo" and shown["translations"]["es"] == "[es] alpha bravo"
    await until(spanish, lambda m: m["type"] == "caption" and m["final"])

    answer = await correct(room, shown["seq"], 0, "Alpha Bravo Charlie")
    assert answer == {"type": "corrected", "seq": shown["seq"], "revision": 1}
    revised = await until(spanish, lambda m: m.get("revision") == 1)
    assert revised["seq"] == shown["seq"] and revised["final"]
    assert revised["text"] == "[es] Alpha Bravo Charlie"
    echoed = await until(room, lambda m: m["type"] == "revision")
    assert echoed["text"] == "Alpha Bravo Charlie" and echoed["revision"] == 1

    finals = await database_sync_to_async(list)(Caption.objects.filter(event=event, language="es"))
    assert "[es] Alpha Bravo Charlie" in exports.render(finals, "srt")
    history = await database_sync_to_async(list)(
        CaptionRevision.objects.order_by("revision").values_list("revision", "text", "author")
    )
    assert [(r, t) for r, t, _ in history] == [(0, "alpha bravo"), (1, "Alpha Bravo Charlie")]
    assert history[0][2] is None and history[1][2] is not None
    for comm in (spanish, room, speaker):
        await comm.disconnect()


@pytest.fixture
def revising_engine():
    """The scripted engine, revising a final "alpha" once the next final is out."""
    engine = get_engine()
    engine.revise = {"alpha": "Alpha, yes"}
    yield engine
    engine.revise = {}


async def test_the_engine_s_revision_of_a_final_reaches_listeners_and_the_room(
    event, revising_engine
):
    spanish, _ = await join(event.slug, "es")
    room, _ = await moderator(event)
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    first = await until(spanish, lambda m: m["type"] == "caption" and m["final"])
    assert first["text"] == "[es] alpha"
    await speak(speaker, 2)
    revised = await until(spanish, lambda m: m.get("revision") == 1)
    assert (revised["seq"], revised["text"], revised["final"]) == (
        first["seq"],
        "[es] Alpha, yes",
        True,
    )
    echoed = await until(room, lambda m: m["type"] == "revision")
    assert (echoed["seq"], echoed["text"], echoed["revision"]) == (first["seq"], "Alpha, yes", 1)
    rows = await database_sync_to_async(list)(
        Caption.objects.filter(event=event, seq=first["seq"]).values_list("language", "text")
    )
    assert dict(rows) == {"en": "Alpha, yes", "es": "[es] Alpha, yes", "fr": "[fr] Alpha, yes"}
    history = await database_sync_to_async(list)(
        CaptionRevision.objects.order_by("revision").values_list("revision", "text", "author")
    )
    assert history == [(0, "alpha", None), (1, "Alpha, yes", None)]  # no moderator: the engine
    for comm in (spanish, room, speaker):
        await comm.disconnect()


async def test_a_moderator_s_correction_is_never_overwritten_by_the_engine_s_revision(
    event, revising_engine
):
    spanish, _ = await join(event.slug, "es")
    room, _ = await moderator(event)
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    first = await until(room, lambda m: m["type"] == "final")
    assert (await correct(room, first["seq"], 0, "Alfa"))["revision"] == 1
    await speak(speaker, 2)  # the engine revises "alpha" now
    await speak(speaker, 1)  # results are relayed in order: the revision was handled before
    await until(spanish, lambda m: m["type"] == "caption" and m["final"] and "delta" in m["text"])
    rows = await database_sync_to_async(list)(
        Caption.objects.filter(event=event, seq=first["seq"]).values_list("language", "text")
    )
    assert dict(rows)["en"] == "Alfa"
    assert await database_sync_to_async(CaptionRevision.objects.count)() == 2  # 0 and Alfa
    for comm in (spanish, room, speaker):
        await comm.disconnect()


async def test_a_listener_who_joins_after_a_correction_gets_the_corrected_text(event):
    await database_sync_to_async(store)(event, 1, "helo world")
    early, _ = await join(event.slug, "es")  # fills this process's history cache
    room, _ = await moderator(event)
    await correct(room, 1, 0, "hello world")
    await until(early, lambda m: m.get("revision") == 1)
    late, history = await join(event.slug, "es")
    replayed = [m for m in history if m["type"] == "caption"]
    assert [(m["seq"], m["text"], m.get("revision")) for m in replayed] == [
        (1, "[es] hello world", 1)
    ]
    for comm in (early, late, room):
        await comm.disconnect()


async def test_a_correction_based_on_an_old_revision_is_refused_with_the_current_text(event):
    await database_sync_to_async(store)(event, 1, "helo world")
    first, _ = await moderator(event, "first")
    second, _ = await moderator(event, "second")
    assert (await correct(first, 1, 0, "hello world"))["revision"] == 1
    conflict = await correct(second, 1, 0, "hallo world")
    assert conflict["code"] == "conflict"
    assert conflict["current"]["text"] == "hello world"
    assert conflict["current"]["revision"] == 1
    assert (await correct(second, 1, 1, "hallo world"))["revision"] == 2
    for comm in (first, second):
        await comm.disconnect()


async def test_of_two_saves_at_the_same_base_exactly_one_wins_in_the_database(event):
    await database_sync_to_async(store)(event, 1, "helo")
    translations = {"es": "[es] x", "fr": "[fr] x"}

    async def save(text: str):
        try:
            return await corrections.save_correction(
                event.pk, "en", 1, 0, text, translations, [], None
            )
        except CorrectionError as exc:
            return exc.code

    results = await asyncio.gather(save("one"), save("two"))
    assert sorted(r if isinstance(r, str) else "saved" for r in results) == ["conflict", "saved"]


async def test_a_translation_no_translator_serves_is_kept_and_marked_stale(event, monkeypatch):
    await database_sync_to_async(store)(event, 1, "helo")

    async def spanish_only(self, text, config):
        return {"es": f"[es] {text}"}

    monkeypatch.setattr("tests.fake_engine.ScriptedEngine.translate_text", spanish_only)
    monkeypatch.setattr(corrections, "_translate_locally", lambda text, config, targets: {})
    room, _ = await moderator(event)
    await correct(room, 1, 0, "hello")
    revision = await until(room, lambda m: m["type"] == "revision")
    assert revision["translations"] == {"es": "[es] hello", "fr": "[fr] helo"}
    assert revision["stale"] == ["fr"]
    await room.disconnect()


async def test_a_held_final_reaches_listeners_only_once_released(event):
    spanish, _ = await join(event.slug, "es")
    room, _ = await moderator(event)
    await room.send_json_to({"type": "hold", "seconds": 30})
    await until(room, lambda m: m["type"] == "hold" and m["seconds"] == 30)
    speaker = await start_presenter(event)  # reads the hold as it takes the event
    await until(spanish, lambda m: m.get("status") == "live")
    await speak(speaker, 2)
    held = await until(room, lambda m: m["type"] == "final")
    assert held["held_until"] is not None
    assert await spanish.receive_nothing(timeout=1)  # not even the partials

    await room.send_json_to({"type": "release", "seq": held["seq"]})
    released = await until(spanish, lambda m: m["type"] == "caption")
    assert released["final"] and released["text"] == "[es] alpha bravo"
    await until(room, lambda m: m["type"] == "released" and held["seq"] in m["seqs"])
    for comm in (spanish, room, speaker):
        await comm.disconnect()


async def test_a_held_final_is_corrected_before_listeners_ever_see_it(event):
    await database_sync_to_async(store)(event, 1, "helo", held_for=30)
    spanish, history = await join(event.slug, "es")
    assert not [m for m in history if m["type"] == "caption"]
    room, shown = await moderator(event)
    assert [m["held_until"] is not None for m in shown if m["type"] == "final"] == [True]
    await correct(room, 1, 0, "hello")
    await room.send_json_to({"type": "release", "seq": 1})  # no presenter: the room releases it
    released = await until(spanish, lambda m: m["type"] == "caption")
    assert released["text"] == "[es] hello" and released["revision"] == 1
    for comm in (spanish, room):
        await comm.disconnect()


async def test_finals_held_by_a_dead_presenter_process_go_out_after_the_takeover(event):
    await database_sync_to_async(store)(event, 1, "one", held_for=-1)
    await database_sync_to_async(store)(event, 2, "two", held_for=0.5)
    await lease.take(event.pk, "a-process-that-died")  # its lease still runs for a while
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)  # takes the event over
    first = await until(spanish, lambda m: m["type"] == "caption")
    second = await until(spanish, lambda m: m["type"] == "caption")
    assert [(first["seq"], first["text"]), (second["seq"], second["text"])] == [
        (1, "[es] one"),
        (2, "[es] two"),
    ]
    held = Caption.objects.filter(event=event, release_at__isnull=False)
    assert not await database_sync_to_async(held.exists)()
    for comm in (spanish, speaker):
        await comm.disconnect()


async def test_a_stable_listener_gets_finals_but_never_a_partial(event):
    stable, _ = await join(event.slug, "es", "mode=stable")
    fast, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speak(speaker, 3)
    fast_messages = await receive_until(fast, lambda m: m.get("type") == "caption" and m["final"])
    assert any(not m["final"] for m in fast_messages if m["type"] == "caption")
    stable_messages = await receive_until(stable, lambda m: m.get("type") == "caption")
    assert (
        stable_messages[-1]["final"] and stable_messages[-1]["text"] == "[es] alpha bravo charlie"
    )
    for comm in (stable, fast, speaker):
        await comm.disconnect()


async def test_a_glossary_term_from_the_control_room_changes_the_next_utterance(event):
    spanish, _ = await join(event.slug, "es")
    room, _ = await moderator(event)
    speaker = await start_presenter(event)
    await speak(speaker, 2)
    await until(spanish, lambda m: m.get("final") and "alpha bravo" in m["text"])
    await room.send_json_to(
        {"type": "glossary", "term": "Charlotte", "translations": {"es": "Carlota"}}
    )
    added = await until(room, lambda m: m["type"] == "glossary_added")
    assert added["translations"] == {"es": "Carlota"}
    await asyncio.sleep(1.5)  # the live session reads the organizer's settings each second
    await speak(speaker, 1)  # the third word: "charlie", heard as "Charlotte" now
    final = await until(spanish, lambda m: m.get("final") and m["seq"] == 2)
    assert final["text"] == "[es] Carlota"
    term = await database_sync_to_async(GlossaryTerm.objects.get)(event=event)
    assert term.term == "Charlotte"
    for comm in (spanish, room, speaker):
        await comm.disconnect()


def test_the_control_room_page_is_for_the_events_organizers_only(event):
    """Anonymous visitors go to the login; staff who do not organize the event get 403."""
    url = f"/e/{event.slug}/control/"
    assert Client().get(url).status_code == 302
    assert logged_in(staff_user("bystander")).get(url).status_code == 403
    page = logged_in(organizer("host", event)).get(url)
    assert page.status_code == 200
    assert b'id="delay-panel"' in page.content and b"js/control.js" in page.content


def test_the_admin_shows_a_captions_revisions_read_only(event):
    """The caption's admin page lists the original and each correction with its author."""
    store(event, 1, "helo")
    author = organizer("host", event)
    source = Caption.objects.get(event=event, seq=1, language="en")
    CaptionRevision.objects.create(caption=source, revision=0, text="helo")
    CaptionRevision.objects.create(caption=source, revision=1, text="hello", author=author)
    page = logged_in(author).get(f"/admin/captions/caption/{source.pk}/change/")
    assert page.status_code == 200
    assert b"hello" in page.content and b"host" in page.content
    assert b'name="revisions-0-text"' not in page.content  # read-only: no form fields
