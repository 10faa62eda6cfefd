"""The caption pipeline end to end: presenter socket, engine, Redis channel layer, listeners."""

from __future__ import annotations

import asyncio
import json

import pytest

from captions import protocol
from captions.engines import get_engine
from captions.engines.base import SessionConfig
from captions.models import Caption, Event
from tests.conftest import listener, presenter
from tests.fake_engine import clipped, silence, tone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

FRAME = 0.1  # seconds of audio per frame, as the browser sends


async def receive_until(comm, predicate, limit: int = 50) -> list[dict]:
    """Collect messages until one satisfies ``predicate``; return all of them."""
    seen = []
    for _ in range(limit):
        message = json.loads(await comm.receive_from(timeout=5))
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError(f"no matching message among {seen}")


def final(seq_text: str):
    return lambda m: m.get("type") == "caption" and m["final"] and seq_text in m["text"]


async def start_presenter(event):
    comm = presenter(event)
    connected, _ = await comm.connect()
    assert connected
    await receive_until(comm, lambda m: m["type"] == "status")
    await comm.send_json_to({"type": "start"})
    await receive_until(comm, lambda m: m.get("status") == "live")
    return comm


async def speak(comm, words: int) -> None:
    """Send ``words`` voiced frames then one silent frame: one utterance."""
    for _ in range(words):
        await comm.send_to(bytes_data=tone(FRAME))
    await comm.send_to(bytes_data=silence(FRAME))


async def join(slug: str, language: str, query: str = ""):
    comm = listener(slug, language, query)
    connected, _ = await comm.connect()
    assert connected
    history = await receive_until(comm, lambda m: m["type"] == "history_end")
    return comm, history


async def prepared_since(count: int) -> SessionConfig:
    """The config of the engine's next prepare() call after the first ``count``."""
    for _ in range(100):
        if len(get_engine().prepared) > count:
            return get_engine().prepared[count]
        await asyncio.sleep(0.02)
    raise AssertionError("the engine was not prepared")


async def test_a_presenter_connecting_prepares_the_engine_for_the_event_before_start(event):
    """The engine loads its models while the presenter gets ready, not after "start"."""
    before, sessions = len(get_engine().prepared), len(get_engine().sessions)
    comm = presenter(event)
    connected, _ = await comm.connect()
    assert connected
    config = await prepared_since(before)
    assert config.source_language == "en" and set(config.target_languages) == {"es", "fr"}
    assert len(get_engine().sessions) == sessions  # nothing started: nobody said "start"
    await comm.disconnect()


async def test_an_engine_failing_to_prepare_leaves_the_presenter_connected(db):
    """The failure is logged; "start" then reports it as it always did."""
    event = await Event.objects.acreate(title="Unknown tongue", source_language="xx")
    before = len(get_engine().prepared)
    comm = presenter(event)
    connected, _ = await comm.connect()
    assert connected
    await receive_until(comm, lambda m: m["type"] == "status")
    await prepared_since(before)
    await comm.send_json_to({"type": "start"})
    messages = await receive_until(comm, lambda m: m["type"] == "error")
    assert messages[-1]["code"] == "engine_failed"
    await comm.disconnect()


async def test_each_listener_receives_only_its_own_language(event):
    spanish, _ = await join(event.slug, "es")
    french, _ = await join(event.slug, "fr")
    english, _ = await join(event.slug, "en")
    speaker = await start_presenter(event)
    await speak(speaker, 2)

    for comm, language in ((spanish, "es"), (french, "fr"), (english, "en")):
        messages = await receive_until(comm, final("alpha bravo"))
        captions = [m for m in messages if m["type"] == "caption"]
        assert {m["language"] for m in captions} == {language}
        assert all("source_text" not in m for m in captions)
    assert captions[-1]["text"] == "alpha bravo"
    for comm in (spanish, french, english, speaker):
        await comm.disconnect()


async def test_partials_arrive_before_the_final_with_a_stable_sequence_number(event):
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speak(speaker, 3)
    messages = await receive_until(spanish, final("[es] alpha bravo charlie"))
    captions = [m for m in messages if m["type"] == "caption"]
    assert [m["final"] for m in captions] == [False, False, False, True]
    assert len({m["seq"] for m in captions}) == 1
    assert captions[0]["text"] == "[es] alpha"
    await spanish.disconnect()
    await speaker.disconnect()


async def test_a_listener_who_asks_gets_the_original_text_too(event):
    spanish, _ = await join(event.slug, "es", "original=1")
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    messages = await receive_until(spanish, final("[es] alpha"))
    assert messages[-1]["source_text"] == "alpha"
    assert messages[-1]["source_language"] == "en"
    await spanish.disconnect()
    await speaker.disconnect()


async def test_finals_are_stored_per_language_and_partials_are_not(event):
    speaker = await start_presenter(event)
    await speak(speaker, 2)
    spanish, _ = await join(event.slug, "es")
    await speak(speaker, 1)
    await receive_until(spanish, final("[es] charlie"))
    rows = Caption.objects.filter(event=event).order_by("seq", "language")
    stored = [row async for row in rows.values_list("seq", "language", "text")]
    assert [(lang, text) for _, lang, text in stored] == [
        ("en", "alpha bravo"),
        ("es", "[es] alpha bravo"),
        ("fr", "[fr] alpha bravo"),
        ("en", "charlie"),
        ("es", "[es] charlie"),
        ("fr", "[fr] charlie"),
    ]
    await spanish.disconnect()
    await speaker.disconnect()


async def test_a_late_listener_gets_history_first_then_live_captions(event):
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    await speak(speaker, 1)
    early, _ = await join(event.slug, "es")  # makes sure both finals were relayed
    await speak(speaker, 1)
    await receive_until(early, final("[es] charlie"))

    late, history = await join(event.slug, "es")
    finals = [m["text"] for m in history if m["type"] == "caption"]
    assert finals == ["[es] alpha", "[es] bravo", "[es] charlie"]
    await speak(speaker, 1)
    live = await receive_until(late, final("[es] delta"))
    assert [m["text"] for m in live if m.get("final")] == ["[es] delta"]
    for comm in (early, late, speaker):
        await comm.disconnect()


async def test_a_reconnecting_listener_resumes_after_its_last_final_without_duplicates(event):
    speaker = await start_presenter(event)
    first, _ = await join(event.slug, "fr")
    await speak(speaker, 1)
    seen = await receive_until(first, final("[fr] alpha"))
    last_seq = seen[-1]["seq"]
    await first.disconnect()

    await speak(speaker, 1)  # said while the listener was away
    await speak(speaker, 1)
    watcher, history = await join(event.slug, "fr")
    if not any(final("[fr] charlie")(m) for m in history):  # not stored yet: it comes live
        await receive_until(watcher, final("[fr] charlie"))

    again, history = await join(event.slug, "fr", f"after={last_seq}")
    assert [m["text"] for m in history if m["type"] == "caption"] == ["[fr] bravo", "[fr] charlie"]
    await speak(speaker, 1)
    live = await receive_until(again, final("[fr] delta"))
    assert [m["text"] for m in live if m.get("final")] == ["[fr] delta"]
    for comm in (watcher, again, speaker):
        await comm.disconnect()


async def test_stopping_delivers_the_open_utterance_as_a_final(event):
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speaker.send_to(bytes_data=tone(FRAME))
    await speaker.send_json_to({"type": "stop"})
    messages = await receive_until(spanish, lambda m: m.get("status") == "ended")
    assert any(m.get("final") and m["text"] == "[es] alpha" for m in messages)
    assert await Caption.objects.filter(event=event, language="es").acount() == 1
    await spanish.disconnect()


async def test_a_presenter_who_drops_still_delivers_the_utterance_in_progress(event):
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speaker.send_to(bytes_data=tone(FRAME))
    await receive_until(spanish, lambda m: m.get("type") == "caption")
    await speaker.disconnect()
    messages = await receive_until(spanish, lambda m: m.get("status") == "paused")
    assert any(m.get("final") and m["text"] == "[es] alpha" for m in messages)
    await spanish.disconnect()


async def test_the_presenter_sees_its_preview_and_listener_counts(event):
    spanish, _ = await join(event.slug, "es", "speech=1")
    speaker = presenter(event)
    await speaker.connect()
    expected = {"es": 1, "speech:es": 1}
    await receive_until(speaker, lambda m: m["type"] == "listeners" and m["counts"] == expected)
    await speaker.send_json_to({"type": "start"})
    await speaker.send_json_to({"type": "preview", "language": "fr"})
    await speak(speaker, 1)
    preview = await receive_until(speaker, lambda m: m["type"] == "preview" and m["final"])
    assert preview[-1]["source_text"] == "alpha"
    assert preview[-1]["text"] == "[fr] alpha"
    await spanish.disconnect()
    await speaker.disconnect()


async def test_a_listening_listener_gets_a_link_to_synthesized_speech(event, client):
    spanish, _ = await join(event.slug, "es", "speech=1")
    speaker = presenter(event)
    await speaker.connect()
    await receive_until(speaker, lambda m: m["type"] == "listeners" and "speech:es" in m["counts"])
    await speaker.send_json_to({"type": "start"})
    await speak(speaker, 1)
    messages = await receive_until(spanish, lambda m: m["type"] == "speech")
    assert messages[-1]["language"] == "es"
    response = await client_get(client, messages[-1]["url"])
    assert response.status_code == 200
    assert response.content == b"[es] alpha"
    await spanish.disconnect()
    await speaker.disconnect()


async def client_get(client, url):
    from asgiref.sync import sync_to_async

    return await sync_to_async(client.get)(url)


async def test_a_second_presenter_takes_over_and_the_first_is_told(event):
    first = await start_presenter(event)
    second = presenter(event)
    connected, _ = await second.connect()
    assert connected
    messages = await receive_until(first, lambda m: m.get("code") == "replaced")
    assert messages[-1]["fatal"] is True
    assert (await first.receive_output(timeout=5))["type"] == "websocket.close"
    await first.disconnect(code=protocol.CLOSE_REPLACED)
    await second.disconnect()


async def test_listener_counts_drop_when_listeners_leave(event):
    from captions.presence import listener_counts

    comms = [(await join(event.slug, "es"))[0] for _ in range(3)]
    assert await eventually(lambda: listener_counts(event.id), {"es": 3})
    for comm in comms:
        await comm.disconnect()
    assert await eventually(lambda: listener_counts(event.id), {})


async def test_listener_counts_read_only_the_events_processes_and_forget_dead_ones(event):
    """A report reads the hashes the event's set names (no keyspace scan): another event's
    counts are not summed in, and a process whose counts expired is dropped from the set."""
    from captions import presence
    from captions.redis_client import get_redis

    client = get_redis()
    other = event.id + 100_000
    live = presence.counts_key(event.id, "live-process")
    stray = presence.counts_key(other, "other-process")
    await client.hset(live, mapping={"es": 2, "speech:es": 1})
    await client.hset(stray, mapping={"es": 50})
    await client.sadd(presence.processes_key(event.id), "live-process", "dead-process")
    await client.sadd(presence.processes_key(other), "other-process")
    try:
        assert await presence.listener_counts(event.id) == {"es": 2, "speech:es": 1}
        assert await client.smembers(presence.processes_key(event.id)) == {"live-process"}
    finally:
        await client.delete(live, stray, *map(presence.processes_key, (event.id, other)))


async def eventually(read, expected, seconds: float = 3.0):
    """Poll ``read()`` until it returns ``expected`` (counts are written in batches)."""
    import asyncio

    for _ in range(int(seconds / 0.1)):
        if (value := await read()) == expected:
            return True
        await asyncio.sleep(0.1)
    raise AssertionError(f"{value!r} != {expected!r}")


async def test_an_engine_that_refuses_to_start_is_reported_to_the_presenter(event):
    event.source_language = "xx"
    await event.asave()
    comm = presenter(event)
    await comm.connect()
    await comm.send_json_to({"type": "start"})
    messages = await receive_until(comm, lambda m: m["type"] == "error")
    assert messages[-1]["code"] == "engine_failed"
    assert messages[-1]["fatal"] is True
    await comm.disconnect()


async def test_an_engine_failing_mid_talk_pauses_keeps_its_finals_and_can_start_again(event):
    """The failed session is closed, listeners see the pause, and "start" opens a new one."""
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speak(speaker, 2)
    await speaker.send_to(bytes_data=tone(FRAME))
    await speaker.send_to(bytes_data=clipped(FRAME))
    messages = await receive_until(speaker, lambda m: m["type"] == "error")
    assert messages[-1]["code"] == "engine_failed" and messages[-1]["fatal"] is False
    await receive_until(speaker, lambda m: m.get("status") == "paused")
    first = get_engine().sessions[-1]
    assert first.closed
    heard = await receive_until(spanish, lambda m: m.get("status") == "paused")
    assert any(m.get("final") and m["text"] == "[es] alpha bravo" for m in heard)

    await speaker.send_json_to({"type": "start"})
    await receive_until(speaker, lambda m: m.get("status") == "live")
    assert get_engine().sessions[-1] is not first
    await speak(speaker, 1)
    await receive_until(spanish, final("[es] alpha"))
    spanish_finals = Caption.objects.filter(event=event, language="es").order_by("seq")
    stored = [caption.text async for caption in spanish_finals]
    assert stored == ["[es] alpha bravo", "[es] alpha"]
    for comm in (spanish, speaker):
        await comm.disconnect()


def test_close_codes_are_distinct():
    codes = [
        protocol.CLOSE_UNAUTHORIZED,
        protocol.CLOSE_EVENT_NOT_FOUND,
        protocol.CLOSE_LANGUAGE_NOT_OFFERED,
        protocol.CLOSE_REPLACED,
        protocol.CLOSE_EVENT_ENDED,
        protocol.CLOSE_TOO_SLOW,
    ]
    assert len(set(codes)) == len(codes)


async def test_an_idle_presenter_connection_outlives_the_redis_read_timeout(event):
    import asyncio

    speaker = await start_presenter(event)
    await asyncio.sleep(6.5)  # channels_redis waits 5 s for messages on an idle channel
    await speaker.send_json_to({"type": "ping"})
    await receive_until(speaker, lambda m: m["type"] == "pong")
    await speaker.disconnect()


async def test_a_second_joiner_gets_history_from_the_process_cache_without_a_query(
    event, monkeypatch
):
    from captions import storage

    speaker = await start_presenter(event)
    first, _ = await join(event.slug, "es")
    await speak(speaker, 1)
    await receive_until(first, final("[es] alpha"))

    async def no_database(*args, **kwargs):
        raise AssertionError("history read from the database")

    monkeypatch.setattr(storage, "recent_finals", no_database)
    second, history = await join(event.slug, "es")
    assert [m["text"] for m in history if m["type"] == "caption"] == ["[es] alpha"]
    for comm in (first, second, speaker):
        await comm.disconnect()


async def test_a_server_at_its_engine_session_limit_refuses_a_new_talk_by_name(event, settings):
    from captions.models import Event, EventLanguage

    settings.ENGINE_MAX_SESSIONS = 1
    other = await Event.objects.acreate(title="Parallel room", source_language="en")
    await EventLanguage.objects.acreate(event=other, code="es")
    first = await start_presenter(event)
    second = presenter(other)
    await second.connect()
    await receive_until(second, lambda m: m["type"] == "status")
    await second.send_json_to({"type": "start"})
    refusal = await receive_until(second, lambda m: m["type"] == "error")
    assert refusal[-1]["code"] == "engine_busy"
    assert "ENGINE_MAX_SESSIONS" in refusal[-1]["detail"]
    await first.send_json_to({"type": "pause"})
    await receive_until(first, lambda m: m.get("status") == "paused")
    await second.send_json_to({"type": "start"})
    await receive_until(second, lambda m: m.get("status") == "live")
    for comm in (first, second):
        await comm.disconnect()


async def test_a_presenter_whose_close_the_server_cancels_still_delivers_and_frees_its_session(
    event, settings, monkeypatch
):
    """Daphne cancels an application still busy application_close_timeout seconds after its
    socket closed (Channels' test communicator: after 1 s). Cancelled in its first wait (the
    ticker, inside a database call that a thread finishes first), the presenter's close still
    delivers the engine's last final, closes the engine session and frees its slot: otherwise
    the server refuses every talk past ENGINE_MAX_SESSIONS until it restarts."""
    import threading
    import time

    from channels.db import database_sync_to_async

    from captions import live

    settings.ENGINE_MAX_SESSIONS = 1
    speaker = await start_presenter(event)
    session = get_engine().sessions[-1]
    await speaker.send_to(bytes_data=tone(FRAME))
    await speaker.send_to(bytes_data=tone(FRAME))  # "alpha bravo", not ended by a pause
    in_database = threading.Event()

    def slow_settings(event_id):
        in_database.set()
        time.sleep(2.5)  # a busy database: the thread finishes its query before the cancel
        return None

    monkeypatch.setattr(live, "organizer_settings", database_sync_to_async(slow_settings))
    for _ in range(50):  # the ticker checks the organizer's settings every second
        if in_database.is_set():
            break
        await asyncio.sleep(0.1)
    assert in_database.is_set()
    await speaker.disconnect()  # gives up after 1 s and cancels the consumer
    for _ in range(100):
        if session.closed:
            break
        await asyncio.sleep(0.05)
    assert session.closed
    stored = Caption.objects.filter(event=event, language="es").values_list("text", flat=True)
    assert [text async for text in stored] == ["[es] alpha bravo"]
    assert live._sessions.open == 0
    again = await start_presenter(event)  # the slot is free: "live", not "engine_busy"
    await again.disconnect()


async def test_a_final_the_engine_still_holds_when_the_close_is_cancelled_is_delivered(event):
    """The presenter leaves while the engine still decodes its last utterance (3 s here); the
    server cancels the close after a second, in its drain. The drain goes on: the final is
    stored and reaches the listener who is still there."""
    get_engine().final_hold = 3.0
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    session = get_engine().sessions[-1]
    await speak(speaker, 2)
    await speaker.disconnect()  # gives up after 1 s and cancels the consumer
    await receive_until(spanish, final("[es] alpha bravo"), limit=100)
    for _ in range(100):
        if session.closed:
            break
        await asyncio.sleep(0.05)
    assert session.closed
    assert await Caption.objects.filter(event=event, language="es").acount() == 1
    await spanish.disconnect()


async def test_an_engine_start_failing_unexpectedly_gives_its_slot_back(event, settings):
    """A start that fails with an error the engine did not foresee closes the socket (1011),
    and the server can still start a talk: the slot it took is given back."""
    from captions import live

    settings.ENGINE_MAX_SESSIONS = 1
    engine = get_engine()
    working = engine.start_session

    async def broken(config):
        engine.start_session = working
        raise RuntimeError("a bug in an engine")

    engine.start_session = broken
    comm = presenter(event)
    await comm.connect()
    await receive_until(comm, lambda m: m["type"] == "status")
    await comm.send_json_to({"type": "start"})
    sent = [await comm.receive_output(timeout=5)]
    while sent[-1]["type"] != "websocket.close":
        sent.append(await comm.receive_output(timeout=5))
    assert sent[-1]["code"] == 1011
    assert live._sessions.open == 0
    again = await start_presenter(event)
    await again.disconnect()


async def test_a_presenter_who_leaves_while_the_engine_starts_lets_the_event_go(event, settings):
    """The socket closes while "start" still waits for the engine (a cloud engine's slow
    connect): the server cancels the application before it handled "websocket.disconnect".
    Its cleanup runs all the same: the lease is released, and the engine's slot is free."""
    from captions import lease, live

    settings.ENGINE_MAX_SESSIONS = 1
    engine = get_engine()
    working = engine.start_session

    async def slow(config):
        await asyncio.sleep(3)
        return await working(config)

    engine.start_session = slow
    comm = presenter(event)
    await comm.connect()
    await receive_until(comm, lambda m: m["type"] == "status")
    assert await lease.holder(event.id) is not None
    await comm.send_json_to({"type": "start"})
    await asyncio.sleep(0.2)
    await comm.disconnect()  # gives up after 1 s and cancels the consumer, still in "start"
    for _ in range(50):
        if await lease.holder(event.id) is None:
            break
        await asyncio.sleep(0.1)
    assert await lease.holder(event.id) is None
    assert live._sessions.open == 0
    engine.start_session = working
    again = await start_presenter(event)
    await again.disconnect()


async def test_a_cleanup_that_fails_is_logged_once_by_name(event, monkeypatch, caplog):
    """Nobody waits for a cleanup the server's cancel left running, so it logs its own
    failure: once, naming the consumer and the close code."""
    from captions.live import LiveEvent

    async def broken_close(self):
        raise RuntimeError("a bug in the cleanup")

    monkeypatch.setattr(LiveEvent, "close", broken_close)
    speaker = await start_presenter(event)
    await speaker.disconnect(code=1001)
    failures = [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])]
    assert [r.getMessage() for r in failures] == [
        "PresenterConsumer could not clean up (close code 1001)"
    ]


async def test_a_listener_gone_while_its_history_is_read_is_counted_out(event, monkeypatch):
    """In a join storm the history read can outlast the server's patience: the phone has gone,
    the server cancels its application still inside "connect", and "disconnect" never comes.
    The listener is counted out all the same: of the event's count, and of its address's
    (LISTENERS_PER_ADDRESS would otherwise refuse that network for good)."""
    from captions import limits, presence
    from captions.consumers import AudienceConsumer

    reading = asyncio.Event()

    async def slow_history(self, after, not_before):
        reading.set()
        await asyncio.sleep(3)
        return []

    monkeypatch.setattr(AudienceConsumer, "_finals_after", slow_history)
    comm = listener(event.slug, "es")
    connected, _ = await comm.connect()
    assert connected
    await asyncio.wait_for(reading.wait(), 5)
    assert limits._counts.by_event[event.id] == 1
    await comm.disconnect()  # gives up after 1 s and cancels the consumer, still in "connect"
    for _ in range(50):
        if not (await presence.listener_counts(event.id)).get("es"):
            break
        await asyncio.sleep(0.1)
    assert not (await presence.listener_counts(event.id)).get("es")
    assert limits._counts.by_event[event.id] == 0


async def test_a_listener_gone_before_it_was_counted_in_leaves_the_others_counts_alone(
    event, monkeypatch
):
    """A listener cancelled while its subscription waits for Redis was never counted in: its
    cleanup must not count out the listener of the same language who is still there."""
    from captions import presence
    from captions.fanout import get_hub

    present, _ = await join(event.slug, "es")
    hub = get_hub()
    subscribing = asyncio.Event()
    working_add = hub.add

    async def slow_add(stream, subscriber):
        subscribing.set()
        await asyncio.sleep(3)  # Redis slow to confirm the subscription
        return await working_add(stream, subscriber)

    monkeypatch.setattr(hub, "add", slow_add)
    late = listener(event.slug, "es")
    await late.connect()
    await asyncio.wait_for(subscribing.wait(), 5)
    await late.disconnect()  # gives up after 1 s and cancels the consumer, inside "connect"
    await asyncio.sleep(0.6)  # the counts are written at most every 0.5 s
    assert (await presence.listener_counts(event.id)).get("es") == 1
    await present.disconnect()
