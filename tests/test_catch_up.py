"""A listener's catch-up after a Redis outage: missed finals in order, or a close to resume.

Against a private Redis that the tests restart, with the listener's socket in process.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.db import OperationalError

from captions import consumers, history, protocol, storage
from captions.fanout import CAPTION, Envelope, get_hub, stream_name
from tests.conftest import listener
from tests.faultkit import RedisServer, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def messages_until(comm, predicate, seconds: float = 10) -> list[dict]:
    """Every message (or close) the listener gets until one satisfies ``predicate``."""
    seen: list[dict] = []
    while not seen or not predicate(seen[-1]):
        output = await comm.receive_output(timeout=seconds)
        seen.append(json.loads(output["text"]) if "text" in output else output)
    return seen


def is_link(state: str):
    return lambda m: m.get("type") == "link" and m["state"] == state


async def store(event, seq: int, text: str) -> None:
    await storage.store_final(event.id, seq, {"es": text}, text, 0.0, 1.0)


def publish(server: RedisServer, event, seq: int, text: str) -> None:
    message = protocol.caption(
        seq=seq, language="es", final=True, text=text, start=0.0, end=1.0, source_language="en"
    )
    with server.client() as client:
        envelope = Envelope(CAPTION, seq, True, protocol.dumps(message))
        client.publish(stream_name(event.id, "es"), envelope.encode())


async def join_then_lose_redis(event, private_redis):
    comm = listener(event.slug, "es")
    assert (await comm.connect())[0]
    await messages_until(comm, lambda m: m.get("type") == "history_end")
    private_redis.stop()
    await messages_until(comm, is_link("down"))
    await store(event, 1, "dicho durante el corte")  # stored; its publish would have failed
    return comm


async def test_after_an_outage_the_listener_gets_the_missed_final_then_live_ones(
    event, private_redis
):
    comm = await join_then_lose_redis(event, private_redis)
    private_redis.start()
    caught_up = await messages_until(comm, lambda m: m.get("type") == "status")
    assert [m["seq"] for m in caught_up if m.get("type") == "caption"] == [1]
    await store(event, 2, "en directo")
    publish(private_redis, event, 2, "en directo")
    live = await messages_until(comm, lambda m: m.get("type") == "caption")
    assert live[-1]["seq"] == 2
    await comm.disconnect()


async def test_a_catch_up_that_cannot_read_the_database_closes_the_socket_to_resume(
    event, private_redis, monkeypatch
):
    """Live finals must not go out past a gap, nor be held for ever: the page reconnects."""
    comm = await join_then_lose_redis(event, private_redis)

    def database_down(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(storage.recent_finals, "func", database_down)
    private_redis.start()
    seen = await messages_until(comm, lambda m: m.get("type") == "websocket.close")
    assert seen[-1]["code"] == protocol.CLOSE_RESUME
    assert not [m for m in seen if m.get("type") == "caption"]  # nothing sent past the gap
    await comm.disconnect()  # as a server does once the close handshake is done

    monkeypatch.undo()  # the database answers again: the page's reconnection gets the final
    again = listener(event.slug, "es", "after=0")
    assert (await again.connect())[0]
    history = await messages_until(again, lambda m: m.get("type") == "history_end")
    assert [m["seq"] for m in history if m.get("type") == "caption"] == [1]
    await again.disconnect()


def lingering(read, first_read: asyncio.Event, go_on: asyncio.Event):
    """``read``, whose first run, once done, waits for ``go_on`` before it answers."""

    async def first_read_lingers(*args):
        result = await read(*args)  # read before the second outage: it lacks final 2
        if not go_on.is_set():
            first_read.set()
            await go_on.wait()
        return result

    return first_read_lingers


@pytest.mark.parametrize("slow_read", ["finals", "status"])
async def test_the_link_coming_back_again_during_a_catch_up_catches_up_again(
    event, private_redis, monkeypatch, slow_read
):
    """A second outage while the first catch-up reads (its finals, or then the status): the
    second outage's finals are read too, not skipped."""
    comm = await join_then_lose_redis(event, private_redis)
    first_read, go_on = asyncio.Event(), asyncio.Event()
    if slow_read == "finals":
        monkeypatch.setattr(
            history, "recent_finals", lingering(history.recent_finals, first_read, go_on)
        )
    else:
        monkeypatch.setattr(
            consumers, "read_status", lingering(consumers.read_status, first_read, go_on)
        )
    private_redis.start()
    await asyncio.wait_for(first_read.wait(), 10)
    hub = get_hub()
    back_at = hub.up_since
    private_redis.stop()
    seen = await messages_until(comm, is_link("down"))
    await store(event, 2, "dicho durante el segundo corte")
    private_redis.start()
    assert await wait_until(lambda: hub.up and hub.up_since > back_at, 10)
    go_on.set()
    seen += await messages_until(comm, lambda m: m.get("seq") == 2, seconds=5)
    assert [m["seq"] for m in seen if m.get("type") == "caption"] == [1, 2]
    await comm.disconnect()


async def test_a_live_final_handed_over_before_the_catch_up_does_not_skip_the_missed_ones(
    event, private_redis, monkeypatch
):
    """The hub reads on as soon as the subscription is confirmed and tells listeners that the
    link is back in a task: a final published just then reaches the listener first. It must
    wait for the catch-up, or the final missed during the outage is never sent (the freeze
    drill of tests/test_faults.py lost the outage's finals this way, now and then)."""
    comm = await join_then_lose_redis(event, private_redis)
    hub = get_hub()
    link_back = hub._link_back

    async def link_back_then_a_live_final():
        await store(event, 2, "en directo")  # spoken after the outage, stored, then published
        await link_back()  # the hub goes on reading without a pause: the final is dispatched
        message = protocol.caption(
            seq=2, language="es", final=True, text="en directo", start=0, end=1,
            source_language="en",
        )  # fmt: skip
        envelope = Envelope(CAPTION, 2, True, protocol.dumps(message))
        await hub.deliver_local(stream_name(event.id, "es"), envelope)

    monkeypatch.setattr(hub, "_link_back", link_back_then_a_live_final)
    private_redis.start()
    seen = await messages_until(comm, lambda m: m.get("type") == "status")
    if not [m for m in seen if m.get("seq") == 2]:
        seen += await messages_until(comm, lambda m: m.get("seq") == 2, seconds=5)
    assert [m["seq"] for m in seen if m.get("type") == "caption"] == [1, 2]
    await comm.disconnect()
