"""Two real server processes sharing PROMETHEUS_MULTIPROC_DIR: either one's /metrics sums both."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_engine import silence, tone
from tests.servers import server_set
from tests.test_multiprocess import connect, create_event, next_final

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def servers(tmp_path):
    servers = server_set(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    yield servers
    servers.stop_all()


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_of_two_server_processes_add_up_on_either_endpoint(servers):
    """A Spanish listener on each process: both endpoints count 2 listeners, the messages of
    both, and one delivery delay from each; a process that exits takes its listener with it."""
    slug, key = create_event(servers)
    port_a, port_b = servers.start(), servers.start()
    async with (
        connect(port_a, f"/ws/events/{slug}/audience/es/") as first,
        connect(port_b, f"/ws/events/{slug}/audience/es/") as second,
        connect(port_a, f"/ws/events/{slug}/presenter/", key) as speaker,
    ):
        await speaker.send('{"type": "start"}')
        for frame in (tone(0.1), silence(0.1)):
            await speaker.send(frame)
        await next_final(first)
        await next_final(second)
        both = [await asyncio.to_thread(scrape, port) for port in (port_a, port_b)]
        for found in both:
            assert value(found, "captions_listeners", event=slug, language="es") == 2
            count = value(found, "captions_delivery_delay_seconds_count", language="es")
            assert count == 2
        sent = [value(found, "captions_messages_sent_total", language="es") for found in both]
        assert sent[0] == sent[1] >= 2 * 2  # at least a partial and a final on each process
        servers.stop(port_b)  # its exit marks its gauges dead; its counters stay
        found = await asyncio.to_thread(scrape, port_a)
        assert value(found, "captions_listeners", event=slug, language="es") == 1
        assert value(found, "captions_delivery_delay_seconds_count", language="es") == 2
