"""A join costs no query once a process knows its stream: one history frame, status from memory."""

from __future__ import annotations

import asyncio
import json

import pytest

from captions import consumers
from captions.history import RecentFinals, history_frame
from tests.conftest import listener
from tests.test_pipeline import final, join, receive_until, speak, start_presenter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


def caption_text(seq: int) -> str:
    return json.dumps({"type": "caption", "seq": seq, "final": True, "text": f"t{seq}"})


async def test_the_whole_history_is_serialized_once_until_the_next_final():
    recent = RecentFinals(limit=2)
    recent.fill([(1, caption_text(1)), (2, caption_text(2))], asyncio.get_running_loop().time())
    last, frame = recent.frame(None)
    assert recent.frame(None)[1] is frame
    assert last == 2
    assert [c["seq"] for c in json.loads(frame)["captions"]] == [1, 2]
    recent.add(3, caption_text(3))
    assert json.loads(recent.frame(None)[1]) == {
        "type": "history",
        "last_seq": 3,
        "captions": [json.loads(caption_text(2)), json.loads(caption_text(3))],
    }


async def test_a_frame_after_a_resume_point_holds_only_newer_finals_and_keeps_the_point():
    recent = RecentFinals(limit=5)
    recent.fill([(4, caption_text(4)), (7, caption_text(7))], asyncio.get_running_loop().time())
    assert [c["seq"] for c in json.loads(recent.frame(4)[1])["captions"]] == [7]
    assert recent.frame(7) == (7, history_frame([], 7))
    empty = {"type": "history", "last_seq": None, "captions": []}
    assert json.loads(history_frame([], None)) == empty


async def test_an_incomplete_cache_serves_no_frame():
    recent = RecentFinals(limit=5)
    recent.add(1, caption_text(1))
    assert recent.frame(None) is None


async def join_framed(slug: str, language: str, query: str = "history=frame"):
    """A listener as the pages connect: status first, then one history message."""
    comm = listener(slug, language, query)
    connected, _ = await comm.connect()
    assert connected
    seen = await receive_until(comm, lambda m: m["type"] == "history")
    return comm, seen


async def test_a_page_asking_for_a_frame_gets_its_history_in_one_message_then_live(event):
    speaker = await start_presenter(event)
    early, _ = await join(event.slug, "es")
    await speak(speaker, 1)
    await speak(speaker, 1)
    seen = await receive_until(early, final("[es] bravo"))
    bravo = seen[-1]["seq"]

    late, messages = await join_framed(event.slug, "es")
    assert [m["type"] for m in messages] == ["status", "history"]
    history = messages[-1]
    assert [c["text"] for c in history["captions"]] == ["[es] alpha", "[es] bravo"]
    assert history["last_seq"] == bravo
    again, messages = await join_framed(event.slug, "es", f"history=frame&after={bravo}")
    assert messages[-1] == {"type": "history", "last_seq": bravo, "captions": []}
    await speak(speaker, 1)
    for comm in (late, again):
        live = await receive_until(comm, final("[es] charlie"))
        assert [m["text"] for m in live if m.get("final")] == ["[es] charlie"]
    await late.receive_nothing()
    for comm in (early, late, again, speaker):
        await comm.disconnect()


async def test_a_joiner_reads_no_status_once_the_process_has_seen_one(event, monkeypatch):
    speaker = await start_presenter(event)
    first, _ = await join(event.slug, "fr")

    async def no_database(event_id):
        raise AssertionError("status read from the database")

    monkeypatch.setattr(consumers, "read_status", no_database)
    await speaker.send_json_to({"type": "pause"})
    await receive_until(first, lambda m: m["type"] == "status" and m["status"] == "paused")
    second, messages = await join_framed(event.slug, "fr")
    status = messages[0]
    assert (status["type"], status["status"], status["title"]) == ("status", "paused", "Keynote")
    assert status["languages"] == ["en", "es", "fr"]
    for comm in (first, second, speaker):
        await comm.disconnect()


async def test_the_first_joiner_of_a_stream_reads_the_status_and_the_next_one_does_not(
    event, monkeypatch
):
    speaker = await start_presenter(event)
    reads = []
    original = consumers.read_status

    async def counted(event_id):
        reads.append(event_id)
        return await original(event_id)

    monkeypatch.setattr(consumers, "read_status", counted)
    first, messages = await join_framed(event.slug, "es")
    second, again = await join_framed(event.slug, "es")
    assert messages[0]["status"] == again[0]["status"] == "live"
    assert reads == [event.id]
    for comm in (first, second, speaker):
        await comm.disconnect()
