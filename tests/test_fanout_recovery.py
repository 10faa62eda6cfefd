"""The fan-out hub against a private Redis that stops, comes back empty, or freezes."""

from __future__ import annotations

import asyncio

import pytest

from captions import fanout
from captions.fanout import CAPTION, Envelope, get_hub, stream_name
from tests.faultkit import RedisServer

pytestmark = pytest.mark.timeout(60)


class Recorder:
    """A local listener of a stream, as the hub sees one."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.links: list[bool] = []

    async def deliver(self, envelope: Envelope) -> None:
        self.received.append(envelope.seq)

    async def link_changed(self, up: bool) -> None:
        self.links.append(up)


async def wait_for(predicate, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def publish(server: RedisServer, stream: str, seq: int) -> None:
    with server.client() as client:
        client.publish(stream, Envelope(CAPTION, seq, True, "{}").encode())


async def test_listeners_hear_the_link_go_down_and_come_back_after_a_redis_restart(private_redis):
    stream = stream_name(1, "es")
    recorder = Recorder()
    assert await get_hub().add(stream, recorder)
    publish(private_redis, stream, 1)
    await wait_for(lambda: recorder.received == [1], 3)

    private_redis.stop()
    await wait_for(lambda: recorder.links == [False], 3)
    await asyncio.sleep(3)  # several failed reconnections: the hub must keep trying
    private_redis.start()
    await wait_for(lambda: recorder.links == [False, True], 5)
    publish(private_redis, stream, 2)
    await wait_for(lambda: recorder.received == [1, 2], 3)
    await get_hub().remove(stream, recorder)


async def test_a_frozen_redis_is_noticed_by_its_silence_and_the_hub_recovers(private_redis):
    stream = stream_name(1, "fr")
    recorder = Recorder()
    assert await get_hub().add(stream, recorder)
    private_redis.freeze()
    await wait_for(lambda: recorder.links == [False], fanout.SILENCE_SECONDS + 3)
    private_redis.thaw()
    await wait_for(lambda: recorder.links == [False, True], 10)
    publish(private_redis, stream, 7)
    await wait_for(lambda: recorder.received == [7], 3)
    await get_hub().remove(stream, recorder)


async def test_a_listener_joining_while_redis_is_down_is_subscribed_once_it_is_back(private_redis):
    early, late = Recorder(), Recorder()
    assert await get_hub().add(stream_name(1, "es"), early)
    private_redis.stop()
    await wait_for(lambda: early.links == [False], 3)
    assert not await get_hub().add(stream_name(1, "de"), late)
    private_redis.start()
    await wait_for(lambda: late.links == [True], 5)
    publish(private_redis, stream_name(1, "de"), 3)
    await wait_for(lambda: late.received == [3], 3)
    await get_hub().remove(stream_name(1, "es"), early)
    await get_hub().remove(stream_name(1, "de"), late)


async def test_the_last_listener_leaving_ends_the_subscription(private_redis):
    stream = stream_name(1, "es")
    listeners = [Recorder() for _ in range(3)]
    for recorder in listeners:
        assert await get_hub().add(stream, recorder)
    for recorder in listeners:
        await get_hub().remove(stream, recorder)
    with private_redis.client() as client:
        await wait_for(lambda: client.pubsub_numsub(stream) == [(stream, 0)], 3)
