"""ListenerSender against a fake ASGI send whose writability the test controls."""

from __future__ import annotations

import asyncio

import pytest

from captions.protocol import CLOSE_TOO_SLOW
from captions.sending import ListenerSender

pytestmark = pytest.mark.timeout(5)


class FakeSocket:
    """An ASGI send that blocks while ``writable`` is clear, like uvicorn's sans-I/O one."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent: list[dict] = []
        self.error: Exception | None = None  # raised by the next send that gets through
        self.abandoned = 0  # sends that ended without sending, by cancellation or close

    async def send(self, message: dict) -> None:
        ended = False
        try:
            await self.writable.wait()
            ended = True
            if self.error is not None:
                error, self.error = self.error, None
                raise error
            self.sent.append(message)
        finally:
            self.abandoned += not ended

    @property
    def texts(self) -> list[str]:
        return [message["text"] for message in self.sent if message["type"] == "websocket.send"]

    @property
    def closes(self) -> list[int]:
        return [message["code"] for message in self.sent if message["type"] == "websocket.close"]


class Drops:
    """Counts on_drop calls."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def until(condition, seconds: float = 1.0) -> None:
    for _ in range(int(seconds * 1000)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not met in time")


@pytest.fixture
def socket() -> FakeSocket:
    return FakeSocket()


@pytest.fixture
def drops() -> Drops:
    return Drops()


async def test_a_client_that_keeps_up_gets_every_text_at_once_without_a_task(socket, drops):
    sender = ListenerSender(socket.send, drops)
    tasks = asyncio.all_tasks()
    for n in range(100):
        sender.deliver_text(str(n))
    assert socket.texts == [str(n) for n in range(100)]
    assert asyncio.all_tasks() == tasks


async def test_texts_behind_a_blocked_send_go_out_in_order_once_the_client_reads(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.writable.clear()
    for text in ("a", "b", "c"):
        sender.deliver_text(text)
    await asyncio.sleep(0.01)
    assert socket.texts == []
    assert sender.backlog == 2
    socket.writable.set()
    await until(lambda: len(socket.texts) == 3)
    assert socket.texts == ["a", "b", "c"]
    assert sender.backlog == 0


async def test_texts_delivered_while_the_backlog_drains_keep_their_place(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    socket.writable.set()
    await asyncio.sleep(0)
    sender.deliver_text("c")
    await until(lambda: len(socket.texts) == 3)
    sender.deliver_text("d")
    assert socket.texts == ["a", "b", "c", "d"]


async def test_the_fast_path_returns_once_the_backlog_has_drained(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.writable.clear()
    sender.deliver_text("a")
    socket.writable.set()
    await until(lambda: socket.texts == ["a"])
    await asyncio.sleep(0)
    tasks = asyncio.all_tasks()
    sender.deliver_text("b")
    assert socket.texts == ["a", "b"]
    assert asyncio.all_tasks() == tasks


async def test_a_send_that_yields_to_the_loop_is_driven_as_a_task_would(drops):
    sent: list[str] = []

    async def send(message: dict) -> None:
        await asyncio.sleep(0)
        sent.append(message["text"])

    sender = ListenerSender(send, drops)
    for text in ("a", "b", "c"):
        sender.deliver_text(text)
    await until(lambda: len(sent) == 3)
    assert sent == ["a", "b", "c"]


async def test_an_overflowing_backlog_drops_the_listener_once_and_frees_it(socket, drops):
    sender = ListenerSender(socket.send, drops, max_backlog=3)
    socket.writable.clear()
    for n in range(10):
        sender.deliver_text(str(n))
    assert drops.count == 1
    assert sender.backlog == 0
    assert socket.abandoned == 1  # the blocked send was closed, not left suspended
    socket.writable.set()
    await until(lambda: socket.closes == [CLOSE_TOO_SLOW])
    assert socket.texts == []


async def test_a_backlog_too_long_in_characters_drops_the_listener(socket, drops):
    sender = ListenerSender(socket.send, drops, max_backlog_chars=1000)
    socket.writable.clear()
    sender.deliver_text("x" * 600)
    sender.deliver_text("x" * 600)
    assert drops.count == 0
    sender.deliver_text("x" * 600)
    assert drops.count == 1


async def test_an_overflow_after_the_drain_started_cancels_the_blocked_send(socket, drops):
    sender = ListenerSender(socket.send, drops, max_backlog=1)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    await asyncio.sleep(0.01)
    sender.deliver_text("c")
    assert drops.count == 1
    await until(lambda: socket.abandoned == 1)
    socket.writable.set()
    await until(lambda: socket.closes == [CLOSE_TOO_SLOW])
    assert socket.texts == []


async def test_a_send_blocked_past_the_stall_limit_drops_the_listener(socket, drops):
    sender = ListenerSender(socket.send, drops, max_stall_seconds=0.05)
    socket.writable.clear()
    sender.deliver_text("a")
    await asyncio.sleep(0.02)
    assert drops.count == 0
    await until(lambda: drops.count == 1)
    sender.deliver_text("b")
    assert socket.abandoned == 1
    socket.writable.set()
    await until(lambda: socket.closes == [CLOSE_TOO_SLOW])
    assert socket.texts == []
    assert drops.count == 1


async def test_a_slow_client_is_not_dropped_while_each_send_finishes_in_time(drops):
    sent: list[str] = []

    async def send(message: dict) -> None:
        await asyncio.sleep(0.03)  # a slow link: every send waits, none for long
        sent.append(message["text"])

    sender = ListenerSender(send, drops, max_stall_seconds=0.05)
    for n in range(5):
        sender.deliver_text(str(n))
    await until(lambda: len(sent) == 5)
    assert sent == ["0", "1", "2", "3", "4"]
    assert drops.count == 0


async def test_an_async_on_drop_is_awaited_before_the_close(socket):
    order: list[str] = []

    async def on_drop() -> None:
        await asyncio.sleep(0)
        order.append("dropped")

    sender = ListenerSender(socket.send, on_drop, max_backlog=0)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    await until(lambda: order == ["dropped"])
    socket.writable.set()
    await until(lambda: socket.closes == [CLOSE_TOO_SLOW])


async def test_a_send_that_fails_at_once_is_contained(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.error = ConnectionResetError("client gone")
    sender.deliver_text("a")
    sender.deliver_text("b")
    assert socket.texts == ["b"]
    assert drops.count == 0


async def test_a_blocked_send_that_fails_later_is_contained_and_the_backlog_goes_on(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    await asyncio.sleep(0.01)
    socket.error = ConnectionResetError("client gone")
    socket.writable.set()
    await until(lambda: sender.backlog == 0 and socket.texts == ["b"])
    assert drops.count == 0


async def test_a_failing_on_drop_does_not_stop_the_close(socket):
    def on_drop() -> None:
        raise RuntimeError("bug")

    sender = ListenerSender(socket.send, on_drop, max_backlog=0)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    socket.writable.set()
    await until(lambda: socket.closes == [CLOSE_TOO_SLOW])


async def test_a_listener_that_leaves_mid_drain_is_not_dropped(socket, drops):
    sender = ListenerSender(socket.send, drops)
    socket.writable.clear()
    sender.deliver_text("a")
    sender.deliver_text("b")
    await asyncio.sleep(0.01)
    sender.stop()
    sender.deliver_text("c")
    await until(lambda: socket.abandoned == 1)
    socket.writable.set()
    await asyncio.sleep(0.01)
    assert socket.sent == []
    assert drops.count == 0


async def test_a_send_that_returns_a_plain_future_is_driven_the_same_way(drops):
    futures: list[asyncio.Future] = []
    sent: list[str] = []

    def send(message: dict) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: sent.append(message["text"]))
        futures.append(future)
        return future

    sender = ListenerSender(send, drops)
    sender.deliver_text("a")
    sender.deliver_text("b")
    assert len(futures) == 1
    futures[0].set_result(None)
    await until(lambda: len(futures) == 2)
    futures[1].set_result(None)
    await until(lambda: sent == ["a", "b"])


async def test_a_blocked_send_that_awaits_in_its_cleanup_gets_to_finish_it(drops):
    writable = asyncio.Event()
    cleaned: list[str] = []

    async def send(message: dict) -> None:
        try:
            await writable.wait()
        finally:
            await asyncio.sleep(0)
            cleaned.append(message.get("text", "close"))

    sender = ListenerSender(send, drops, max_stall_seconds=0.02)
    sender.deliver_text("a")
    await until(lambda: drops.count == 1)
    assert cleaned == ["a"]
