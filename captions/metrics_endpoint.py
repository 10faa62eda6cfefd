"""GET /metrics: the Prometheus exposition, for a bearer token or from inside the network only.

Served in front of Django (presenter_site/asgi.py): scrapers reach each process by its address
(a container's IP, a port), which ALLOWED_HOSTS need not list, and a scrape costs no session,
database or middleware work. With METRICS_TOKEN set, a scrape needs
``Authorization: Bearer <token>`` from anywhere; without it, only loopback and private
addresses (10/8, 172.16/12, 192.168/16, 127/8, ::1, fc00::/7) may scrape. Behind a proxy the
client address is the one the server took from the proxy's X-Forwarded-For (--proxy-headers).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from . import metrics

PATH = "/metrics"
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)


def is_internal(address: str) -> bool:
    """Whether ``address`` is a loopback or private one (an IPv4-mapped IPv6 one counts as v4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in INTERNAL_NETWORKS if network.version == ip.version)


def refusal(headers: dict[bytes, bytes], client: str) -> tuple[int, str] | None:
    """None if this scrape may read the metrics; else the HTTP status and reason."""
    token = settings.METRICS_TOKEN
    if not token:
        return None if is_internal(client) else (403, "metrics are served to internal addresses")
    scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return 401, "a bearer token is required"


def exposition() -> bytes:
    """Every metric of this process, or of all processes sharing PROMETHEUS_MULTIPROC_DIR."""
    if not metrics.MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


class MetricsRoute:
    """ASGI middleware: answers GET /metrics itself and hands every other request on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        client = (scope.get("client") or ("", 0))[0] or ""
        refused = refusal(headers, client)
        if scope["method"] not in ("GET", "HEAD"):
            refused = (405, "GET only")
        if refused is not None:
            status, reason = refused
            return await _respond(send, status, b"text/plain", reason.encode(), scope)
        body = await asyncio.to_thread(exposition)  # reads every process's files
        await _respond(send, 200, CONTENT_TYPE_LATEST.encode(), body, scope)


async def _respond(send: Any, status: int, content_type: bytes, body: bytes, scope: dict) -> None:
    headers = [(b"content-type", content_type), (b"cache-control", b"no-store")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
