"""Refusing WebSocket handshakes without touching Redis.

Channels' origin check refuses with a consumer that, like any consumer, opens a channel-layer
receive (a blocking Redis read) for its short life. A flood of refused connections would cost
Redis a read each, and a test's event loop could wait on one at shutdown. These refuse with
a consumer that has no channel layer, as listeners have none.
"""

from __future__ import annotations

from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator as ChannelsOriginValidator
from channels.security.websocket import WebsocketDenier
from django.conf import settings


class Refusal(WebsocketDenier):
    """Refuses the handshake (HTTP 403); no channel layer."""

    channel_layer_alias = "no-channel-layer"


def origin_of(scope: dict) -> ParseResult | None:
    """The parsed Origin header of a connection, or None (as Channels reads it)."""
    for name, value in scope.get("headers", []):
        if name == b"origin":
            try:
                return urlparse(value.decode("latin1"))
            except UnicodeDecodeError:
                return None
    return None


class OriginValidator(ChannelsOriginValidator):
    """Channels' origin rules; a refused origin gets the Redis-free refusal."""

    async def __call__(self, scope, receive, send):
        if not self.valid_origin(origin_of(scope)):
            return await Refusal()(scope, receive, send)
        return await self.application(scope, receive, send)


def allowed_hosts_origin_validator(application) -> OriginValidator:
    """Accept WebSocket origins among settings.ALLOWED_HOSTS, like Channels' own factory."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return OriginValidator(application, allowed_hosts)
