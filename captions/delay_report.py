"""Caption delays measured where listeners are served, summed across processes in Redis.

When a process hands a final to its listeners (captions/fanout.py), ``delivered`` stamps the
message with the send time (``sent``, for the phones' own delay), measures the final's delay
from its ``heard`` stamp, and counts it: in the Prometheus histogram, and in this process's
buckets of the current five-second slot. Once a second the buckets go to Redis with HINCRBY,
one hash per event and slot that expires after a few minutes, so every process's counts add
up; ``read_summary`` sums the last minute's hashes for the presenter page and the console.

Costs are bounded: per stream and message one JSON read, and only for finals; per process and
event one Redis round trip a second while finals flow; never anything per listener.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# The module, not its names: captions.fanout imports this one while it is being loaded.
from . import delay, fanout, metrics
from .redis_client import get_redis, key, tag

if TYPE_CHECKING:
    from .fanout import Envelope

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
REPORT_SECONDS = 2.0  # how often the presenter page and the console get fresh figures
TTL_SECONDS = delay.SLOT_SECONDS * delay.WINDOW_SLOTS * 3
MAX_PENDING = 1_000  # (event, slot) hashes waiting to be written; more are dropped

_pending: dict[tuple[int, int], collections.Counter[str]] = {}
_flusher: asyncio.Task | None = None


def stream_parts(stream: str) -> tuple[int, str] | None:
    """The event id and language of a stream name (captions/fanout.py stream_name)."""
    _, event_id, variant = (":" + stream).rsplit(":", 2)
    event_id = event_id.removeprefix("{").removesuffix("}")  # a cluster's hash tag
    if not event_id.isdigit():
        return None
    return int(event_id), variant.removesuffix(".src")


def delivered(stream: str, envelope: Envelope, listeners: int) -> Envelope:
    """Called once per message and stream before it goes to ``listeners`` local listeners."""
    parts = stream_parts(stream)
    if parts is None or listeners <= 0:
        return envelope
    event_id, language = parts
    metrics.count_sent(language, listeners)
    if envelope.kind != fanout.CAPTION or not envelope.final:
        return envelope
    heard = delay.heard_of(envelope.text)
    if heard is None:
        return envelope
    now = time.time()
    record(event_id, language, now - heard / 1000, now)
    text = delay.with_sent(envelope.text, int(now * 1000))
    return dataclasses.replace(envelope, text=text)


def record(event_id: int, language: str, seconds: float, now: float) -> None:
    """Count one final's delay, for Prometheus and for the cross-process summary."""
    metrics.observe_delivery(language, seconds)
    slot_key = (event_id, delay.slot(now))
    if slot_key not in _pending and len(_pending) >= MAX_PENDING:
        return
    _pending.setdefault(slot_key, collections.Counter())[
        delay.field(language, delay.bucket(seconds))
    ] += 1
    _ensure_flusher()


def _ensure_flusher() -> None:
    global _flusher
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_forever())


async def _flush_forever() -> None:
    while _pending:
        await asyncio.sleep(FLUSH_SECONDS)
        await flush()


async def flush() -> None:
    """Add this process's pending counts to Redis; on failure they are dropped, and counted."""
    pending = dict(_pending)
    _pending.clear()
    if not pending:
        return
    try:
        async with get_redis().pipeline(transaction=False) as pipe:
            for (event_id, slot), counts in pending.items():
                name = slot_key(event_id, slot)
                for name_field, n in counts.items():
                    pipe.hincrby(name, name_field, n)
                pipe.expire(name, TTL_SECONDS)
            await pipe.execute()
    except Exception as exc:  # delays are best effort; captions are not held up for them
        metrics.count_redis_error("delay")
        logger.warning("could not write caption delays: %r", exc)


def slot_key(event_id: int, slot: int) -> str:
    return key("delay", tag(event_id), slot)


async def read_summary(event_id: int, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per language, p50 and p95 of the event's finals delivered in the last minute."""
    slots = delay.window(time.time() if now is None else now)
    async with get_redis().pipeline(transaction=False) as pipe:
        for slot in slots:
            pipe.hgetall(slot_key(event_id, slot))
        hashes = await pipe.execute()
    return delay.summarize(delay.merge_fields(hashes))


def message(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``delay`` message of the presenter socket (docs/websocket-api.md)."""
    return {
        "type": "delay",
        "window": delay.SLOT_SECONDS * delay.WINDOW_SLOTS,
        "warn": delay.WARN_SECONDS,
        "languages": summary,
    }


def follow(event_id: int, send: Callable[[dict[str, Any]], Any]) -> asyncio.Task:
    """Send the event's ``delay`` message whenever its figures change, until cancelled."""
    return asyncio.create_task(_follow(event_id, send))


async def _follow(event_id: int, send: Callable[[dict[str, Any]], Any]) -> None:
    last: dict[str, dict[str, Any]] = {}  # nothing to say until a final has been delivered
    while True:
        try:
            summary = await read_summary(event_id)
        except Exception:
            logger.debug("could not read caption delays", exc_info=True)
        else:
            if summary != last:
                last = summary
                sent = send(message(summary))
                if inspect.isawaitable(sent):
                    await sent
        await asyncio.sleep(REPORT_SECONDS)
