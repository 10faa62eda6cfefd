"""A real 3-primary Redis Cluster: events on different shards, server processes sharing it."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from captions.fanout import CAPTION, Envelope, get_hub, publish, stream_name
from captions.protocol import CLOSE_REPLACED, presenter_subprotocols
from presenter_site.env import redis_cluster_nodes
from tests.clusterkit import MISSING, RedisClusterServers
from tests.fake_engine import WORDS, silence, tone
from tests.servers import server_set
from tests.test_fanout_recovery import Recorder
from tests.test_pipeline import eventually

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        bool(MISSING), reason=f"{' and '.join(MISSING)} not installed: no Redis Cluster to start"
    ),
]

UTTERANCES = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    servers = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, cluster):
    """Daphne (presenters and listeners) and uvicorn (listeners), both on the cluster."""
    servers = server_set(tmp_path_factory.mktemp("servers"), REDIS_URL=cluster.url)
    servers.daphne, servers.uvicorn = servers.start(), servers.start(server="uvicorn-sansio")
    yield servers
    for _, port in list(servers.processes):
        servers.stop(port)


def create_event(servers) -> tuple[int, str, str]:
    out = servers.shell(
        "from captions.models import Event, EventLanguage\n"
        "e = Event.objects.create(title='Sharded', source_language='en')\n"
        "EventLanguage.objects.create(event=e, code='es')\n"
        "EventLanguage.objects.create(event=e, code='fr')\n"
        "print(e.id, e.slug, e.presenter_key)"
    )
    event_id, slug, key = out.strip().splitlines()[-1].split()
    return int(event_id), slug, key


def events_on_two_shards(servers, cluster) -> list[tuple[int, str, str]]:
    """Two events whose hash tags, {id}, live on different primaries."""
    events = {}
    with cluster.client() as probe:
        while len(events) < 2:
            event = create_event(servers)
            events.setdefault(probe.get_node_from_key(f"{{{event[0]}}}").name, event)
    return list(events.values())


def connect(port: int, path: str, key: str | None = None):
    return websockets.connect(
        f"ws://127.0.0.1:{port}{path}",
        origin=f"http://127.0.0.1:{port}",
        subprotocols=presenter_subprotocols(key) if key else None,
        open_timeout=10,
    )


async def talk(speaker, utterances: int) -> None:
    await speaker.send(json.dumps({"type": "start"}))
    for _ in range(utterances):
        for frame in (tone(0.1), tone(0.1), silence(0.1)):
            await speaker.send(frame)


async def finals(socket, count: int) -> list[dict]:
    received = []
    while len(received) < count:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if message["type"] == "caption" and message["final"]:
            received.append(message)
    return received


async def until(socket, predicate) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if predicate(message):
            return message


def spoken(language: str, utterances: int, first_word: int = 0) -> list[str]:
    words = [WORDS[(first_word + n) % len(WORDS)] for n in range(2 * utterances)]
    return [f"[{language}] {words[2 * n]} {words[2 * n + 1]}" for n in range(utterances)]


def stream(servers, event_id: int, language: str) -> str:
    return f"test-captions-{servers.env['CAPTIONS_TEST_RUN']}:stream:{{{event_id}}}:{language}"


async def test_events_on_two_shards_reach_listeners_on_two_processes_in_order(servers, cluster):
    events = events_on_two_shards(servers, cluster)
    a, b = servers.daphne, servers.uvicorn
    async with (
        connect(a, f"/ws/events/{events[0][1]}/audience/es/") as es_a0,
        connect(b, f"/ws/events/{events[0][1]}/audience/es/") as es_b0,
        connect(b, f"/ws/events/{events[0][1]}/audience/fr/") as fr_b0,
        connect(a, f"/ws/events/{events[1][1]}/audience/fr/") as fr_a1,
        connect(b, f"/ws/events/{events[1][1]}/audience/es/") as es_b1,
        connect(a, f"/ws/events/{events[0][1]}/presenter/", events[0][2]) as speaker0,
        connect(a, f"/ws/events/{events[1][1]}/presenter/", events[1][2]) as speaker1,
    ):
        await asyncio.gather(talk(speaker0, UTTERANCES), talk(speaker1, UTTERANCES))
        received = await asyncio.gather(
            *(finals(s, UTTERANCES) for s in (es_a0, es_b0, fr_b0, fr_a1, es_b1))
        )
        expected = [spoken(lang, UTTERANCES) for lang in ("es", "es", "fr", "fr", "es")]
        assert [[m["text"] for m in got] for got in received] == expected
        for got in received:
            seqs = [m["seq"] for m in got]
            assert seqs == list(range(seqs[0], seqs[0] + UTTERANCES))

        counts = await until(speaker0, lambda m: m["type"] == "listeners" and len(m["counts"]) == 2)
        assert counts["counts"] == {"es": 2, "fr": 1}

        # Sharded pub/sub on the shard that owns the event: one subscription per process.
        name = stream(servers, events[0][0], "es")
        with cluster.node_of(name) as owner:
            assert owner.execute_command("PUBSUB", "SHARDNUMSUB", name) == [name, 2]
            assert owner.pubsub_numsub(name) == [(name, 0)]


async def test_a_takeover_on_another_process_fences_the_first_presenter(servers, cluster):
    event_id, slug, key = create_event(servers)
    async with (
        connect(servers.uvicorn, f"/ws/events/{slug}/audience/es/") as listener,
        connect(servers.daphne, f"/ws/events/{slug}/presenter/", key) as first,
    ):
        await talk(first, 1)
        assert [m["text"] for m in await finals(listener, 1)] == spoken("es", 1)
        lease = f"test-captions-{servers.env['CAPTIONS_TEST_RUN']}:presenter:{{{event_id}}}"
        with cluster.node_of(lease) as owner:
            assert owner.get(lease) is not None
        async with connect(servers.uvicorn, f"/ws/events/{slug}/presenter/", key) as second:
            await until(first, lambda m: m["type"] == "error" and m["code"] == "replaced")
            await asyncio.wait_for(first.wait_closed(), 5)
            assert first.close_code == CLOSE_REPLACED
            await talk(second, 1)
            assert [m["text"] for m in await finals(listener, 1)] == spoken("es", 1)


def move_slot(cluster: RedisClusterServers, name: str) -> None:
    """Give the (empty) slot of ``name`` to another primary, as a resharding would."""
    with cluster.client() as probe:
        slot = probe.keyslot(name)
        owner = probe.get_node_from_key(name)
    clients = {f"127.0.0.1:{node.port}": node.client() for node in cluster.nodes}
    ids = {address: client.cluster("myid") for address, client in clients.items()}
    target = next(ids[address] for address in clients if address != owner.name)
    order = sorted(clients, key=lambda address: ids[address] != target)  # the new owner first
    for address in order:
        with clients[address] as client:
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target)


async def test_a_stream_whose_slot_moves_to_another_primary_is_followed_there(cluster, settings):
    settings.REDIS_URL = cluster.url
    settings.REDIS_CLUSTER_NODES = redis_cluster_nodes("REDIS_URL", cluster.url)
    name = stream_name(900, "es")
    recorder = Recorder()
    assert await get_hub().add(name, recorder)
    await publish(name, Envelope(CAPTION, 1, True, "{}"))
    await wait_for(lambda: recorder.received == [1])

    move_slot(cluster, name)
    await wait_for(lambda: recorder.links == [False, True])
    await publish(name, Envelope(CAPTION, 2, True, "{}"))
    await wait_for(lambda: recorder.received == [1, 2])
    with cluster.node_of(name) as owner:
        assert owner.execute_command("PUBSUB", "SHARDNUMSUB", name) == [name, 1]
    await get_hub().remove(name, recorder)


async def test_listeners_of_a_frozen_primary_hear_the_link_go_and_come_back(cluster, settings):
    settings.REDIS_URL = cluster.url
    settings.REDIS_CLUSTER_NODES = redis_cluster_nodes("REDIS_URL", cluster.url)
    frozen, healthy = stream_name(901, "es"), stream_name(902, "es")
    with cluster.client() as probe:
        assert probe.get_node_from_key(frozen) != probe.get_node_from_key(healthy)
    recorders = {frozen: Recorder(), healthy: Recorder()}
    for name, recorder in recorders.items():
        assert await get_hub().add(name, recorder)
    node = cluster.server_of(frozen)

    node.freeze()
    try:
        await wait_for(lambda: all(r.links == [False] for r in recorders.values()))
    finally:
        node.thaw()
    await wait_for(lambda: all(r.links == [False, True] for r in recorders.values()))
    for seq, name in enumerate(recorders, 1):
        await publish(name, Envelope(CAPTION, seq, True, "{}"))
    await wait_for(lambda: [r.received for r in recorders.values()] == [[1], [2]])
    for name, recorder in recorders.items():
        await get_hub().remove(name, recorder)


async def wait_for(predicate, seconds: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_listener_counts_are_written_and_read_on_the_events_shard(cluster, settings):
    """Presence's transaction (a process's hash and the event's set of processes) and its
    report run on a cluster: every key of the event shares its hash tag, so one shard."""
    from captions import presence

    settings.REDIS_URL = cluster.url
    settings.REDIS_CLUSTER_NODES = redis_cluster_nodes("REDIS_URL", cluster.url)
    event_id = 903
    await presence.listener_joined(event_id, "es", speech=True)
    await presence.listener_joined(event_id, "fr")
    counts = {"es": 1, "speech:es": 1, "fr": 1}
    assert await eventually(lambda: presence.listener_counts(event_id), counts, 5.0)
    with cluster.client() as probe:
        assert probe.get_node_from_key(presence.processes_key(event_id)) == (
            probe.get_node_from_key(presence.counts_key(event_id, presence.PROCESS_ID))
        )
    await presence.listener_left(event_id, "es", speech=True)
    await presence.listener_left(event_id, "fr")
    assert await eventually(lambda: presence.listener_counts(event_id), {}, 5.0)
