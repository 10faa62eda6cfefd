"""Sending to one listener without ever waiting for it.

An ASGI server's ``send`` may block: uvicorn's waits while the client does not read and the
transport's write buffer is full. The fan-out hub delivers to a process's listeners one after
another, so one stalled phone would stall everyone. ``ListenerSender`` starts each send by
hand and returns at once. A send that completes at once (the common case) costs no task and
no queue. A send that blocks is finished by one drain task, which then sends what arrived
meanwhile, in order; while it runs, later messages wait in a bounded backlog. A listener that
overflows the backlog, or whose send stays blocked too long, is dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from . import metrics, protocol

logger = logging.getLogger(__name__)


Send = Callable[[dict[str, Any]], Awaitable[None]]
Steps = Generator[Any, Any, Any]  # an awaitable's __await__() iterator, driven by hand
_SENT = object()


@types.coroutine
def _resume(steps: Steps, pending: Any) -> Steps:
    """Finish an await whose first step already ran and yielded ``pending``, as a task would.

    This is ``yield from steps`` minus its first step: whatever the send yields goes to the
    task driving us, and what the task sends or throws in (cancellation) goes back into it.
    """
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # cancellation, or a timeout, reaches the send too
            step, value = steps.throw, exc
        else:
            step, value = steps.send, sent
        try:
            pending = step(value)
        except StopIteration as stop:
            return stop.value


class ListenerSender:
    """Hands text frames to one listener's ASGI ``send``; never waits for a slow client."""

    def __init__(
        self,
        send: Send,
        on_drop: Callable[[], Awaitable[None] | None],
        *,
        max_backlog: int = 256,
        max_backlog_chars: int = 512 * 1024,
        max_stall_seconds: float = 10.0,
    ) -> None:
        self._send = send
        self._on_drop = on_drop
        self.max_backlog = max_backlog
        self.max_backlog_chars = max_backlog_chars
        self.max_stall_seconds = max_stall_seconds
        self._backlog: deque[str] = deque()
        self._backlog_chars = 0
        self._drain: asyncio.Task[None] | None = None
        self._suspended: Steps | None = None  # a send started here, not yet finished by the drain
        self._closing: asyncio.Task[None] | None = None
        self.stopped = False  # dropped, or the listener left: nothing more is sent

    @property
    def backlog(self) -> int:
        """How many messages wait behind a blocked send."""
        return len(self._backlog)

    def deliver_text(self, text: str) -> None:
        """Send ``text`` now if the client takes it, else queue it behind the blocked send."""
        if self.stopped:
            return
        if self._drain is not None:
            return self._queue(text)
        # Run the send's first step here; next() with a default finishes without an exception.
        steps = self._send({"type": "websocket.send", "text": text}).__await__()
        try:
            pending = next(steps, _SENT)
        except Exception:  # the client is gone; the server reports the disconnect itself
            logger.debug("could not send to a listener", exc_info=True)
            return
        if pending is _SENT:
            return
        self._suspended = steps  # blocked on ``pending``: the client is slow
        self._drain = asyncio.create_task(self._drain_backlog(steps, pending))

    def _queue(self, text: str) -> None:
        self._backlog.append(text)
        self._backlog_chars += len(text)
        if len(self._backlog) > self.max_backlog or self._backlog_chars > self.max_backlog_chars:
            self.drop(f"{len(self._backlog)} messages ({self._backlog_chars} characters) waiting")

    async def _drain_backlog(self, steps: Steps, pending: Any) -> None:
        """Runs while the client is slow: finish the blocked send, then send the backlog."""
        self._suspended = None  # from here on, cancelling this task reaches the blocked send
        finished = await self._within_stall_limit(_resume(steps, pending))
        while finished and self._backlog:
            text = self._backlog.popleft()
            self._backlog_chars -= len(text)
            finished = await self._within_stall_limit(
                self._send({"type": "websocket.send", "text": text})
            )
        self._drain = None
        if not finished:
            self.drop(f"a send blocked for over {self.max_stall_seconds} s")

    async def _within_stall_limit(self, sending: Awaitable[None]) -> bool:
        """Wait for one send; False if it stayed blocked past the stall limit."""
        limit = asyncio.timeout(self.max_stall_seconds)
        try:
            async with limit:
                await sending
        except Exception:
            if limit.expired():
                return False
            logger.debug("could not send to a listener", exc_info=True)
        return True

    def drop(self, reason: str) -> None:
        """Give up on this listener: free its backlog, tell the owner, close the socket."""
        if self.stopped:
            return
        logger.info("dropping a slow listener: %s", reason)
        self.stop()
        dropped = self._notify_owner()
        self._closing = asyncio.create_task(self._close(dropped))

    def stop(self) -> None:
        """Called when the listener leaves: send nothing more, free the backlog, end the drain."""
        self.stopped = True
        self._backlog.clear()
        self._backlog_chars = 0
        if self._suspended is not None:  # the drain has not started: no one else will end it
            self._abandon(self._suspended)
            self._suspended = None
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None

    @staticmethod
    def _abandon(steps: Steps) -> None:
        try:
            steps.close()
        except Exception:  # e.g. a send that awaits in its cleanup: it is abandoned anyway
            logger.debug("could not close an abandoned send", exc_info=True)

    def _notify_owner(self) -> Awaitable[None] | None:
        metrics.count_slow_listener()
        try:
            result = self._on_drop()
        except Exception:
            logger.exception("on_drop failed")
            return None
        return result if inspect.isawaitable(result) else None

    async def _close(self, dropped: Awaitable[None] | None) -> None:
        """Finish the owner's on_drop, then close; the close waits until the transport dies."""
        if dropped is not None:
            try:
                await dropped
            except Exception:
                logger.exception("on_drop failed")
        try:
            await self._send({"type": "websocket.close", "code": protocol.CLOSE_TOO_SLOW})
        except Exception:
            logger.debug("could not close a slow listener's socket", exc_info=True)
