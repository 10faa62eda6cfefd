"""Abuse limits: wrong presenter keys, and listener sockets per address and per event.

Presenter keys are 192-bit secrets, so these limits are not what keeps them safe; they keep a
guessing client from costing the server a database lookup per attempt. Failures are counted in
Redis (one minute's window per address and per event) so the limit holds across processes.

Listener caps must not hurt a real venue, where hundreds of phones share one NAT address: the
defaults are generous. Admission never waits on Redis: each process counts its own sockets and
every REFRESH_SECONDS swaps its counts with the other processes' through Redis (a hash per
process that expires unless refreshed, so a dead process's sockets vanish on their own).
An address or event is over its cap once local plus remote sockets reach it; remote counts are
at most a few seconds old, which is what "cheaply" costs in precision.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import time
from typing import Any

from django.conf import settings

from . import protocol
from .presence import PROCESS_ID
from .redis_client import get_redis, key, mget, tag

logger = logging.getLogger(__name__)

KEY_WINDOW_SECONDS = 60

TTL_SECONDS = 6  # a process's published counts expire this long after its last refresh
REFRESH_SECONDS = 2
# Addresses are shared with other processes only once they hold this share of the cap on one
# process: a venue of 10,000 phones from 10,000 addresses costs Redis nothing, and what is not
# shared is less than the share per process.
SHARED_FRACTION = 0.02


def client_address(scope: dict[str, Any]) -> str | None:
    """The client's address as limits count it (an IPv6 client by its /64), or None if unknown."""
    client = scope.get("client")
    if not client or not client[0]:
        return None
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:  # a unix socket path, or a server that names clients its own way
        return None
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # One IPv6 host holds a whole /64; counting per /128 would give it 2**64 addresses.
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


# ---- presenter key attempts ------------------------------------------------------------


def _attempt_keys(slug: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(key("keyfail", "event", slug), settings.PRESENTER_KEY_FAILURES_PER_EVENT)]
    if address is not None:
        keys.append((key("keyfail", "addr", address), settings.PRESENTER_KEY_FAILURES_PER_ADDRESS))
    return keys


async def key_attempts_exhausted(slug: str, address: str | None) -> bool:
    """Whether this address or event used up its wrong presenter keys for the minute."""
    keys = _attempt_keys(slug, address)
    try:
        counts = await mget([name for name, _ in keys])
    except Exception:  # Redis down: the presenter must still be able to connect
        logger.warning("could not read presenter key failures", exc_info=True)
        return False
    return any(int(count or 0) >= limit for count, (_, limit) in zip(counts, keys, strict=True))


async def key_attempt_failed(slug: str, address: str | None) -> None:
    """Count a wrong presenter key against the address and the event, for a minute."""
    try:
        async with get_redis().pipeline(transaction=False) as pipe:
            for name, _ in _attempt_keys(slug, address):
                pipe.incr(name)
                pipe.expire(name, KEY_WINDOW_SECONDS, nx=True)
            await pipe.execute()
    except Exception:
        logger.warning("could not count a presenter key failure", exc_info=True)


# ---- listener sockets --------------------------------------------------------------------


class ListenerCounts:
    """This process's listener sockets per address and event, and the others' as last read."""

    def __init__(self) -> None:
        self.by_address: collections.Counter[str] = collections.Counter()
        self.by_event: collections.Counter[int] = collections.Counter()
        self.remote_by_address: dict[str, int] = {}
        self.remote_by_event: dict[int, int] = {}
        self.read_at = 0.0
        self.warned: set[str] = set()

    def refusal(self, event_id: int, address: str | None) -> str | None:
        """Why one more listener would be too many, or None."""
        if self.by_event[event_id] + self.remote_by_event.get(event_id, 0) >= (
            settings.LISTENERS_PER_EVENT
        ):
            return f"this event has reached its limit of {settings.LISTENERS_PER_EVENT} listeners"
        if address is None:
            return None
        if self.by_address[address] + self.remote_by_address.get(address, 0) >= (
            settings.LISTENERS_PER_ADDRESS
        ):
            self._warn_once(address)
            limit = settings.LISTENERS_PER_ADDRESS
            return f"this network address has reached its limit of {limit} listener connections"
        return None

    def _warn_once(self, address: str) -> None:
        if address in self.warned or len(self.warned) > 1000:
            return
        self.warned.add(address)
        # Everyone behind a proxy that does not forward client addresses looks like the proxy.
        logger.warning(
            "address %s reached LISTENERS_PER_ADDRESS (%s); if it is your proxy, let the server "
            "trust its forwarded headers",
            address,
            settings.LISTENERS_PER_ADDRESS,
        )

    def add(self, event_id: int, address: str | None, step: int) -> None:
        self.by_event[event_id] += step
        if self.by_event[event_id] <= 0:
            del self.by_event[event_id]
        if address is not None:
            self.by_address[address] += step
            if self.by_address[address] <= 0:
                del self.by_address[address]

    def published(self) -> dict[str, int]:
        """The fields this process shares: every event, and its heaviest addresses."""
        shared = max(1, int(settings.LISTENERS_PER_ADDRESS * SHARED_FRACTION))
        fields = {f"e:{event_id}": n for event_id, n in self.by_event.items()}
        fields.update({f"a:{addr}": n for addr, n in self.by_address.items() if n >= shared})
        return fields

    def read(self, hashes: list[dict[str, str]]) -> None:
        """Take the other processes' published counts."""
        by_address: collections.Counter[str] = collections.Counter()
        by_event: collections.Counter[int] = collections.Counter()
        for fields in hashes:
            for name, value in fields.items():
                kind, _, ident = name.partition(":")
                if kind == "e" and ident.isdigit():
                    by_event[int(ident)] += int(value)
                elif kind == "a":
                    by_address[ident] += int(value)
        self.remote_by_address, self.remote_by_event = dict(by_address), dict(by_event)
        self.read_at = time.monotonic()


_counts = ListenerCounts()
_refresher: asyncio.Task | None = None
ADMISSION_ATTR = "_listener_admission"


async def admit_listener(consumer, event_id: int) -> bool:
    """Called by a listener's consumer before it joins: count it in, or refuse and close.

    A refused listener gets error ``too_many_listeners`` and close code 4503.
    """
    address = client_address(consumer.scope)
    refusal = _counts.refusal(event_id, address)
    if refusal is not None:
        error = protocol.error("too_many_listeners", refusal, fatal=True)
        await consumer.send(text_data=protocol.dumps(error))
        await consumer.close(code=protocol.CLOSE_TOO_MANY_LISTENERS)
        return False
    _counts.add(event_id, address, 1)
    setattr(consumer, ADMISSION_ATTR, (event_id, address))
    _ensure_refresher()
    return True


def listener_left(consumer) -> None:
    """Called when a listener's socket closes; counts it out once, if it was counted in."""
    admission = consumer.__dict__.pop(ADMISSION_ATTR, None)
    if admission is not None:
        _counts.add(*admission, -1)


def _ensure_refresher() -> None:
    global _refresher
    loop = asyncio.get_running_loop()
    if _refresher is None or _refresher.done() or _refresher.get_loop() is not loop:
        _refresher = loop.create_task(_refresh_forever())


async def _refresh_forever() -> None:
    """Swap counts with the other processes while this one has listeners, and once after."""
    while True:
        try:
            await exchange()
        except Exception:  # Redis blips must not stop the refresher; admission goes on locally
            logger.warning("could not exchange listener counts", exc_info=True)
        if not _counts.by_event:
            return
        await asyncio.sleep(REFRESH_SECONDS)


async def exchange() -> None:
    """Publish this process's counts and read every other live process's."""
    client = get_redis()
    # One hash tag for the registry and every process's hash: a cluster keeps them on one
    # shard, where the transaction below can run.
    registry = key(tag("sockets"))
    mine = f"{registry}:{PROCESS_ID}"
    now = time.time()
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(mine)
        if fields := _counts.published():
            pipe.hset(mine, mapping=fields)
            pipe.expire(mine, TTL_SECONDS)
            pipe.zadd(registry, {PROCESS_ID: now})
        else:
            pipe.zrem(registry, PROCESS_ID)
        pipe.zremrangebyscore(registry, "-inf", now - TTL_SECONDS)
        pipe.zrange(registry, 0, -1)
        *_, processes = await pipe.execute()
    others = [pid for pid in processes if pid != PROCESS_ID]
    async with client.pipeline(transaction=False) as pipe:
        for pid in others:
            pipe.hgetall(f"{registry}:{pid}")
        hashes = await pipe.execute() if others else []
    _counts.read(hashes)
