"""The presenter lease and the publisher it fences, against the real Redis."""

from __future__ import annotations

import asyncio

import pytest

from captions import lease
from captions.fanout import CAPTION, WITHDRAWAL, Envelope, get_hub, stream_name
from captions.publisher import Publisher
from captions.redis_client import get_redis

pytestmark = pytest.mark.timeout(20)

EVENT = 900_001  # no such event in the database: the lease is pure Redis


@pytest.fixture(autouse=True)
async def _no_lease():
    await get_redis().delete(lease.lease_key(EVENT))
    yield
    await get_redis().delete(lease.lease_key(EVENT))


async def test_the_newest_connection_takes_the_event_and_the_old_one_learns_it_on_renewal():
    old, new = lease.new_token(), lease.new_token()
    assert await lease.take(EVENT, old) is None
    assert await lease.take(EVENT, new) == old
    assert not await lease.renew(EVENT, old)
    assert await lease.renew(EVENT, new)


async def test_a_replaced_connection_cannot_release_its_successors_lease():
    old, new = lease.new_token(), lease.new_token()
    await lease.take(EVENT, old)
    await lease.take(EVENT, new)
    await lease.release(EVENT, old)
    assert await lease.holder(EVENT) == new
    await lease.release(EVENT, new)
    assert await lease.holder(EVENT) is None


async def test_renewal_takes_back_a_lease_that_redis_lost_if_nobody_else_has_it():
    token = lease.new_token()
    await lease.take(EVENT, token)
    await get_redis().delete(lease.lease_key(EVENT))  # as after a Redis restart
    assert await lease.renew(EVENT, token)
    assert await lease.holder(EVENT) == token


async def test_a_lease_nobody_renews_expires(monkeypatch):
    monkeypatch.setattr(lease, "LEASE_SECONDS", 0.2)
    await lease.take(EVENT, lease.new_token())
    await asyncio.sleep(0.4)
    assert await lease.holder(EVENT) is None


async def test_ten_simultaneous_takes_leave_exactly_one_holder_whose_renewal_succeeds():
    for _ in range(5):
        tokens = [lease.new_token() for _ in range(10)]
        await asyncio.gather(*(lease.take(EVENT, token) for token in tokens))
        renewed = await asyncio.gather(*(lease.renew(EVENT, token) for token in tokens))
        assert renewed.count(True) == 1
        assert tokens[renewed.index(True)] == await lease.holder(EVENT)


class Recorder:
    """A local listener of a stream, as the hub sees one."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def deliver(self, envelope: Envelope) -> None:
        self.received.append(envelope)

    async def link_changed(self, up: bool) -> None:
        pass


async def wait_for(predicate, seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_publisher_sends_in_order_while_it_holds_the_lease_then_only_withdrawals():
    stream = stream_name(EVENT, "es")
    recorder = Recorder()
    assert await get_hub().add(stream, recorder)
    holder, rival = lease.new_token(), lease.new_token()
    await lease.take(EVENT, holder)
    links: list[bool] = []

    async def on_link(up: bool) -> None:
        links.append(up)

    publisher = Publisher(EVENT, holder, on_link)
    for seq in range(1, 6):
        publisher.put(stream, Envelope(CAPTION, seq, True, f"final {seq}"))
    assert await publisher.drain(3)
    await wait_for(lambda: len(recorder.received) == 5)
    assert [e.seq for e in recorder.received] == [1, 2, 3, 4, 5]

    await lease.take(EVENT, rival)
    publisher.put(stream, Envelope(CAPTION, 6, False, "partial 6"))
    publisher.put(stream, Envelope(CAPTION, 6, True, "final 6"))
    assert await publisher.drain(3)
    assert publisher.fenced_out
    # The replaced session's open partial is still withdrawn: withdrawals pass the fence.
    publisher.put(stream, Envelope(WITHDRAWAL, 6, True, "withdraw 6"))
    assert await publisher.drain(3)
    await wait_for(lambda: len(recorder.received) == 6)
    assert [(e.kind, e.seq) for e in recorder.received[5:]] == [(WITHDRAWAL, 6)]
    publisher.put(stream, Envelope(CAPTION, 7, True, "final 7"))
    assert await publisher.drain(3)
    await asyncio.sleep(0.2)
    assert len(recorder.received) == 6
    assert links == []
    await publisher.close()
    await get_hub().remove(stream, recorder)
