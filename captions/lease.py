"""The presenter lease: at most one live presenter connection per event, across every process.

A connection holds the event while a Redis key carries its token. The key expires unless the
holder renews it, so a crashed process's presenter lets go on its own within LEASE_SECONDS,
and readers of the event's status (captions/status.py) treat "live" without a lease as
"the presenter is gone". Every change is one atomic Redis operation:

- take: the newest connection takes the event over (SET ... GET: one write, which also says
  who held it), since a presenter who reconnects after a network drop must not wait for the
  dead connection's lease to run out;
- renew: compare the token, then extend; if Redis lost the key (a restart), set it again only
  if absent, so a restart does not cost the presenter the event and a rival that took it
  meanwhile keeps it;
- release: compare-and-delete, so a replaced connection never frees its successor's lease.
"""

from __future__ import annotations

import secrets

from .redis_client import get_redis, key, tag

LEASE_SECONDS = (
    2.0  # how long a silent holder keeps the event: listeners learn of a loss soon after
)
RENEW_SECONDS = 0.5  # holders renew this often; a replaced holder learns it within this

_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(event_id: int) -> str:
    return key("presenter", tag(event_id))


def new_token() -> str:
    return secrets.token_hex(12)


async def take(event_id: int, token: str) -> str | None:
    """Hold the event under ``token`` from now on; return the token it replaced, if any."""
    ttl = int(LEASE_SECONDS * 1000)
    return await get_redis().set(lease_key(event_id), token, px=ttl, get=True)


async def renew(event_id: int, token: str) -> bool:
    """Extend the lease; False once another connection holds the event."""
    ttl = int(LEASE_SECONDS * 1000)
    return bool(await get_redis().eval(_RENEW, 1, lease_key(event_id), token, ttl))


async def release(event_id: int, token: str) -> None:
    """Let go of the event, unless another connection already holds it."""
    await get_redis().eval(_RELEASE, 1, lease_key(event_id), token)


async def revoke(event_id: int) -> None:
    """Take the event from whoever holds it (the organizer ended it)."""
    await get_redis().delete(lease_key(event_id))


async def holder(event_id: int) -> str | None:
    """The token of the connection holding the event, or None."""
    return await get_redis().get(lease_key(event_id))
