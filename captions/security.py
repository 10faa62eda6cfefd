"""Refusing WebSocket handshakes without touching Redis.

Channels' origin check refuses with a consumer that, like any consumer, opens a channel-layer
receive (a blocking Redis read) for its short life. A flood of refused connections would cost
Redis a read each, and a test's event loop could wait on one at shutdown. These refuse with
a consumer that has no channel layer, as listeners have none.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


class Refusal(WebsocketDenier):
    """Refuses the handshake (HTTP 403); no channel layer."""

    channel_layer_alias = "no-channel-layer"


Origin = tuple[str, str, int]  # scheme, host, port: what browsers compare, and so do we

DEFAULT_PORTS = {"http": 80, "https": 443}
WS_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` as a browser sends it, normalized; None if it is anything else."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # "http://[", a port out of range
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def own_origin(scope: dict) -> Origin | None:
    """The origin of the page this socket belongs to: the connection's scheme and Host header."""
    scheme = WS_SCHEMES.get(scope.get("scheme", "ws"), "http")
    host = header(scope, b"host")
    if host is None:
        return None
    return parse_origin(f"{scheme}://{host}")


def header(scope: dict, name: bytes) -> str | None:
    """One request header as text, or None (several of a kind: the first)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(
    origin: Origin | None, own: Origin | None, allowed_hosts: list[str], trusted: list[str]
) -> bool:
    """Same origin as the page on an allowed host, or one of the trusted origins exactly."""
    if origin is None:
        return False
    if origin == own and validate_host(origin[1], allowed_hosts):
        return True
    return any(_trusted(origin, entry) for entry in trusted)


def _trusted(origin: Origin, entry: str) -> bool:
    """Django's CSRF_TRUSTED_ORIGINS form: exact, or ``https://*.example.org`` for subdomains."""
    wildcard = "://*." in entry
    expected = parse_origin(entry.replace("://*.", "://", 1))
    if expected is None or origin[0] != expected[0] or origin[2] != expected[2]:
        return False
    if wildcard:
        return origin[1] == expected[1] or origin[1].endswith("." + expected[1])
    return origin[1] == expected[1]


class OriginValidator:
    """Refuses (HTTP 403) a WebSocket whose Origin is not exactly an allowed one.

    Channels' own validator compares the host alone, so a page on another port or scheme
    of the same host (any local dev server, say) could open a staff member's presenter socket.
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        origin = header(scope, b"origin")
        allowed = origin_allowed(
            parse_origin(origin) if origin is not None else None,
            own_origin(scope),
            allowed_hosts,
            settings.CSRF_TRUSTED_ORIGINS,
        )
        if not allowed:
            return await Refusal()(scope, receive, send)
        return await self.application(scope, receive, send)
