"""Prometheus metrics: what the exposition says after known events, and who may read it."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from captions import metrics
from captions.metrics_endpoint import is_internal
from presenter_site.asgi import application
from tests.servers import ROOT
from tests.test_pipeline import join, receive_until, speak, start_presenter

pytestmark = pytest.mark.timeout(30)


async def scrape(
    client: str = "127.0.0.1", headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    """GET /metrics through the project's ASGI application, from ``client``."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": headers or [],
        "client": (client, 40000),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def read() -> dict:
    status, _, body = await scrape()
    assert status == 200
    return samples(body)


class Session:
    """Stands for an engine session reporting its decode queue."""


async def test_engine_and_operator_figures_appear_under_their_names():
    """Each API call moves its metric by exactly what was reported."""
    first, second = Session(), Session()
    before = await read()
    metrics.observe_engine_rtf(2.0, 1.0)
    metrics.set_decode_queue(1.5, session=first)
    metrics.set_decode_queue(0.5, session=second)
    metrics.count_dropped_partial()
    metrics.count_dropped_partial("publisher", 3)
    metrics.count_redis_error("fanout")
    metrics.count_fanout_reconnect()
    metrics.count_correction()
    metrics.count_slow_listener()
    after = await read()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("captions_engine_audio_seconds_total") == pytest.approx(2.0)
    assert grew("captions_engine_compute_seconds_total") == pytest.approx(1.0)
    assert grew("captions_engine_realtime_factor_bucket", le="0.5") == 1
    assert grew("captions_engine_realtime_factor_bucket", le="0.3") == 0
    assert value(after, "captions_engine_decode_queue_seconds") == 2.0
    assert grew("captions_partials_dropped_total", stage="engine") == 1
    assert grew("captions_partials_dropped_total", stage="publisher") == 3
    assert grew("captions_redis_errors_total", component="fanout") == 1
    assert grew("captions_fanout_reconnects_total") == 1
    assert grew("captions_corrections_total") == 1
    assert grew("captions_listeners_dropped_slow_total") == 1
    del first  # a session that is gone stops counting
    metrics.set_decode_queue(0, session=second)
    assert value(await read(), "captions_engine_decode_queue_seconds") == 0.0


@pytest.mark.django_db(transaction=True)
async def test_listeners_messages_and_delivery_delays_follow_a_talk(event):
    """Two Spanish listeners: counted per event and language, every message they get counted,
    and the final's delivery delay observed once for their stream."""
    before = await read()
    first, _ = await join(event.slug, "es")
    second, _ = await join(event.slug, "es")
    during = await read()
    assert value(during, "captions_listeners", event=event.slug, language="es") == 2
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    for comm in (first, second):
        seen = await receive_until(comm, lambda m: m.get("type") == "caption" and m["final"])
    after = await read()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    live = [m for m in seen if m["type"] != "history_end"]
    assert grew("captions_messages_sent_total", language="es") >= 2 * len(live)
    assert grew("captions_delivery_delay_seconds_count", language="es") == 1
    assert grew("captions_delivery_delay_seconds_bucket", language="es", le="1.0") == 1
    for comm in (first, second, speaker):
        await comm.disconnect()
    gone = await read()
    labels = frozenset({("event", event.slug), ("language", "es")})
    assert ("captions_listeners", labels) not in gone


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.20.0.5", True),
        ("192.168.1.9", True),
        ("::1", True),
        ("fd00::1", True),
        ("::ffff:10.0.0.1", True),
        ("172.32.0.1", False),
        ("8.8.8.8", False),
        ("2001:db8::1", False),
        ("::ffff:8.8.8.8", False),
        ("", False),
        ("not an address", False),
    ],
)
def test_internal_addresses_are_loopback_and_private_ranges_only(address, internal):
    """Loopback and RFC 1918 / ULA addresses are internal; public ones and junk are not."""
    assert is_internal(address) is internal


async def test_without_a_token_only_internal_addresses_may_scrape():
    """No METRICS_TOKEN: a private address reads the metrics, a public one gets 403."""
    with override_settings(METRICS_TOKEN=""):
        assert (await scrape("10.0.0.7"))[0] == 200
        status, _, body = await scrape("203.0.113.9")
    assert status == 403 and b"captions_" not in body


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (b"Bearer s3cret-token", 200),
        (b"bearer s3cret-token", 200),
        (b"Bearer wrong", 401),
        (b"Basic s3cret-token", 401),
        (b"s3cret-token", 401),
        (None, 401),
    ],
)
async def test_with_a_token_every_scrape_needs_it_as_a_bearer(authorization, status):
    """With METRICS_TOKEN set, the right bearer token is needed, even from loopback."""
    headers = [(b"authorization", authorization)] if authorization else []
    with override_settings(METRICS_TOKEN="s3cret-token"):
        got, response_headers, body = await scrape("127.0.0.1", headers)
        from_outside = (await scrape("198.51.100.4", headers))[0]
    assert got == from_outside == status
    if status == 401:
        assert response_headers[b"www-authenticate"] == b"Bearer" and b"captions_" not in body
    else:
        assert b"captions_listeners" in body or b"captions_messages_sent" in body


async def test_every_metric_the_dashboard_and_readme_name_is_exported():
    """The Grafana dashboard and the README's table name only metrics the endpoint serves."""
    metrics.count_dropped_partial("engine", 0)  # labelled series exist once used
    metrics.count_redis_error("delay")
    metrics.count_sent("es", 0)
    metrics.observe_delivery("es", 0.1)
    metrics.listener_joined("dashboard-test", "es")
    exported = {name for name, _ in await read()}
    metrics.listener_left("dashboard-test", "es")
    for document in ("deploy/grafana-dashboard.json", "README.md"):
        named = set(re.findall(r"captions_[a-z_]+", (ROOT / document).read_text()))
        suffixes = ("", "_bucket", "_count", "_sum")
        missing = {n for n in named if not any(n + s in exported for s in suffixes)}
        assert missing == set(), document
