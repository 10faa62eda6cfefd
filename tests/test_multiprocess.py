"""Two server processes sharing Redis: a presenter on one, listeners on the other.

The listeners' process is Daphne, or uvicorn as docker-compose.yml's audience service runs it.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from captions.protocol import presenter_subprotocols
from tests.fake_engine import silence, tone
from tests.servers import server_set

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def servers(tmp_path):
    servers = server_set(tmp_path)
    yield servers
    servers.stop_all()


def create_event(servers) -> tuple[str, str]:
    out = servers.shell(
        "from captions.models import Event, EventLanguage\n"
        "e = Event.objects.create(title='Two nodes', source_language='en')\n"
        "EventLanguage.objects.create(event=e, code='es')\n"
        "EventLanguage.objects.create(event=e, code='fr')\n"
        "print(e.slug, e.presenter_key)"
    )
    slug, key = out.strip().splitlines()[-1].split()
    return slug, key


def connect(port: int, path: str, key: str | None = None):
    """A socket to ``path``; a presenter's ``key`` goes in the handshake's subprotocols."""
    return websockets.connect(
        f"ws://127.0.0.1:{port}{path}",
        origin=f"http://127.0.0.1:{port}",
        subprotocols=presenter_subprotocols(key) if key else None,
        open_timeout=10,
    )


async def next_final(socket) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] == "caption" and message["final"]:
            return message


@pytest.mark.parametrize("listener_server", ["daphne", "uvicorn-sansio"])
async def test_captions_cross_from_one_server_process_to_another(servers, listener_server):
    slug, key = create_event(servers)
    port_a, port_b = servers.start(), servers.start(server=listener_server)
    async with (
        connect(port_b, f"/ws/events/{slug}/audience/es/") as spanish,
        connect(port_b, f"/ws/events/{slug}/audience/fr/") as french,
        connect(port_a, f"/ws/events/{slug}/presenter/", key) as speaker,
    ):
        await speaker.send(json.dumps({"type": "start"}))
        for frame in (tone(0.1), tone(0.1), silence(0.1)):
            await speaker.send(frame)
        assert (await next_final(spanish))["text"] == "[es] alpha bravo"
        assert (await next_final(french))["text"] == "[fr] alpha bravo"


async def test_listener_counts_add_up_across_server_processes(servers):
    slug, key = create_event(servers)
    port_a, port_b = servers.start(), servers.start()
    async with (
        connect(port_a, f"/ws/events/{slug}/audience/es/"),
        connect(port_b, f"/ws/events/{slug}/audience/es/"),
        connect(port_b, f"/ws/events/{slug}/audience/fr/"),
        connect(port_a, f"/ws/events/{slug}/presenter/", key) as speaker,
    ):
        while True:
            message = json.loads(await asyncio.wait_for(speaker.recv(), 10))
            if message["type"] == "listeners" and sum(message["counts"].values()) == 3:
                break
        assert message["counts"] == {"es": 2, "fr": 1}
