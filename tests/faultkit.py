"""Fault injection for live captions: a Redis of our own to stop, freeze and kill, and clients
that behave like the pages' scripts, recording everything they see.

- ``RedisServer``: a private ``redis-server`` (no persistence) on a spare port; a restart
  brings it back empty, as a real crash would.
- ``PresenterClient``: static/js/presenter.js without the microphone. It streams a script of
  100 ms PCM16 frames in real time, keeps frames in an outbox until the server says "live" on
  the current connection, reconnects with short backoff and resends the outbox.
- ``ListenerClient``: static/js/audience.js without the page. It reconnects with
  ``?after=<newest final held>`` and records every caption, status and ``link`` message.
- ``compare``: a listener's finals against the database's, as a ``Comparison``.
- ``run_talk``: listeners join, a presenter talks, a fault strikes in the middle; the tests
  (tests/test_faults.py) and the benchmark (bench/faults.py) share it.

Every time is ``time.monotonic()`` in this process.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from captions.protocol import presenter_subprotocols
from tests.fake_engine import WORDS, silence, tone
from tests.servers import ServerSet, free_port

FRAME_SECONDS = 0.1
VOICED = tone(FRAME_SECONDS)
SILENT = silence(FRAME_SECONDS)
MAX_BUFFERED_FRAMES = 300  # as presenter.js: 30 s of audio, the oldest dropped past that
PRESENTER_FATAL_CLOSES = frozenset({1000, 4001, 4004, 4008, 4010})
PRESENTER_FATAL_ERRORS = frozenset({"unauthorized", "event_ended", "replaced"})
PRESENTER_LOST = frozenset({"presenter_lost", "presenter_disconnected"})
LISTENER_FATAL_CLOSES = frozenset({4004, 4005})
ABNORMAL_CLOSE = 1006


def now() -> float:
    return time.monotonic()


async def wait_until(predicate: Callable[[], bool], seconds: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = now() + seconds
    while not predicate():
        if now() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


def backoff(attempt: int) -> float:
    """Reconnection delay: 0.2 s doubling to 1 s, with jitter, as short as the pages' intent."""
    return min(1.0, 0.2 * 2**attempt) * random.uniform(0.85, 1.0)


# ---- Redis ------------------------------------------------------------------------------


@dataclass
class Outage:
    """When a fault started and when the service it broke came back."""

    start: float
    end: float


class RedisServer:
    """A private redis-server on a spare port (never the shared 6379) that tests break."""

    def __init__(self, workdir: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="faultkit-redis-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A plain synchronous client for inspecting this server."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def start(self) -> None:
        """Start on this server's port, empty; return once it answers PING."""
        if self.running:
            return
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                "--protected-mode", "no", *self.options(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )  # fmt: skip
        log.close()
        self.frozen = False
        self._wait_ready()

    def options(self) -> list[str]:
        """More redis-server arguments (a cluster node adds its own)."""
        return []

    def _wait_ready(self, seconds: float = 10) -> None:
        deadline = now() + seconds
        while now() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.workdir / 'redis.log'}")
            try:
                with self.client(0.5) as probe:
                    probe.ping()
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not answer within {seconds} s")

    def stop(self) -> None:
        """Shut down without saving: everything it held is lost."""
        if not self.running:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the abrupt end of a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and hang, new ones queue; Redis is "unreachable"."""
        if self.running and not self.frozen:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: the frozen server carries on with everything it had."""
        if self.running and self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    async def restart(self, down_seconds: float) -> Outage:
        """Stop, stay down ``down_seconds``, start again empty on the same port."""
        start = now()
        self.stop()
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(self.start)
        return Outage(start, now())

    async def freeze_for(self, seconds: float) -> Outage:
        """Freeze for ``seconds``, then thaw."""
        start = now()
        self.freeze()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.thaw()
        return Outage(start, now())

    def stream_subscribers(self, prefix: str, event_id: int) -> dict[str, int]:
        """Subscribers per caption stream of the event (channels with none are not listed)."""
        with self.client() as probe:
            channels = probe.pubsub_channels(f"{prefix}:stream:{event_id}:*")
            return dict(probe.pubsub_numsub(*channels)) if channels else {}


# ---- the event --------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRef:
    """The event a drill runs on."""

    id: int
    slug: str
    key: str
    languages: tuple[str, ...]  # the audience languages: the spoken one first


def create_event(servers: ServerSet, targets: Sequence[str] = ("es", "fr")) -> EventRef:
    """An English talk offered in ``targets``, created through the project's models."""
    lines = [
        "from captions.models import Event, EventLanguage",
        "e = Event.objects.create(title='Fault drill', source_language='en')",
        *(f"EventLanguage.objects.create(event=e, code={code!r})" for code in targets),
        "print(e.pk, e.slug, e.presenter_key)",
    ]
    event_id, slug, key = servers.shell("\n".join(lines)).strip().splitlines()[-1].split()
    return EventRef(int(event_id), slug, key, ("en", *targets))


def stored_finals(servers: ServerSet, event_id: int, language: str) -> list[tuple[int, str]]:
    """The database's finals of one language, (seq, text) in seq order."""
    with sqlite3.connect(servers.workdir / "db.sqlite3", timeout=10) as db:
        rows = db.execute(
            "SELECT seq, text FROM captions_caption WHERE event_id = ? AND language = ?"
            " ORDER BY seq",
            (event_id, language),
        ).fetchall()
    return [(int(seq), text) for seq, text in rows]


def stream_prefix(servers: ServerSet) -> str:
    """The Redis key prefix of the servers' captions (tests/settings.py)."""
    return "test-captions-" + servers.env["CAPTIONS_TEST_RUN"]


# ---- audio ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One 100 ms frame of a presenter's script."""

    index: int
    pcm: bytes
    voiced: bool
    ends_utterance: bool  # the first silent frame after speech: the scripted engine's final


def script_from_runs(runs: Iterable[tuple[int, int]]) -> list[Frame]:
    """Frames from (voiced frames, silent frames) pairs: each pair is one utterance."""
    frames: list[Frame] = []
    for voiced, silent in runs:
        for _ in range(voiced):
            frames.append(Frame(len(frames), VOICED, True, False))
        for n in range(silent):
            frames.append(Frame(len(frames), SILENT, False, n == 0 and voiced > 0))
    return frames


def talk_script(seconds: float, seed: int = 0) -> list[Frame]:
    """About ``seconds`` of talk: 3-6 words, a pause of 0.2-0.4 s, and again."""
    rng = random.Random(seed)
    runs: list[tuple[int, int]] = []
    while sum(v + s for v, s in runs) * FRAME_SECONDS < seconds:
        runs.append((rng.randint(3, 6), rng.randint(2, 4)))
    return script_from_runs(runs)


# ---- clients ----------------------------------------------------------------------------


class Client:
    """What the presenter and listener clients share: a port list and a reconnecting loop."""

    fatal_closes: frozenset[int] = frozenset()
    subprotocols: list[str] | None = None

    def __init__(self, ports: Sequence[int], path: str, name: str) -> None:
        self.ports = list(ports)
        self.port_index = 0
        self.path = path
        self.name = name
        self.socket: websockets.ClientConnection | None = None
        self.fatal = False
        self.stopping = False
        self.task: asyncio.Task | None = None
        self.opens: list[tuple[float, int]] = []  # (time, port) of every connection opened
        self.closes: list[tuple[float, int]] = []  # (time, code) of every close we did not ask for
        self.connect_failures: list[tuple[float, int, str]] = []
        self.messages: list[tuple[float, dict[str, Any]]] = []

    @property
    def port(self) -> int:
        return self.ports[self.port_index]

    @property
    def is_open(self) -> bool:
        return self.socket is not None and self.socket.state is websockets.State.OPEN

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def start(self) -> asyncio.Task:
        """Run the connection loop in a task."""
        self.task = asyncio.create_task(self.run(), name=self.name)
        return self.task

    async def run(self) -> None:
        """Connect, serve the connection, reconnect after a non-fatal close; until stopped."""
        attempt = 0
        while not self.stopping and not self.fatal:
            socket = await self._open()
            if socket is None:
                self.port_index = (self.port_index + 1) % len(self.ports)  # try the next server
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            code = await self._serve(socket)
            if self.stopping:
                return
            self.closes.append((now(), code))
            if code in self.fatal_closes:
                self.fatal = True
                return
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    async def _open(self) -> websockets.ClientConnection | None:
        try:
            return await websockets.connect(
                self.url(),
                origin=f"http://127.0.0.1:{self.port}",
                subprotocols=self.subprotocols,
                open_timeout=5,
                close_timeout=2,
                ping_interval=None,  # browsers do not ping; they answer the server's pings
                proxy=None,
                max_queue=None,
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self.connect_failures.append((now(), self.port, type(exc).__name__))
            return None

    async def _serve(self, socket: websockets.ClientConnection) -> int:
        self.socket = socket
        self.opens.append((now(), self.port))
        self.connection_opened(socket)
        try:
            await self.on_open(socket)
            async for raw in socket:
                if isinstance(raw, str):
                    message = json.loads(raw)
                    self.messages.append((now(), message))
                    self.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            self.socket = None
            self.connection_closed()
        return int(socket.close_code or ABNORMAL_CLOSE)

    def connection_opened(self, socket: websockets.ClientConnection) -> None:
        """Called when a connection opens, before anything is sent."""

    def connection_closed(self) -> None:
        """Called when the current connection has ended."""

    async def on_open(self, socket: websockets.ClientConnection) -> None:
        """Called once the connection is open."""

    def on_message(self, message: dict[str, Any]) -> None:
        """Called for every JSON message, after it was recorded."""

    async def stop(self, abort: bool = False) -> None:
        """Close (with a close handshake, or ``abort`` the TCP connection) and stop the loop."""
        self.stopping = True
        socket = self.socket
        if socket is not None:
            if abort:
                socket.transport.abort()
            else:
                await socket.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def of_type(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.messages if m.get("type") == kind]

    @property
    def statuses(self) -> list[tuple[float, dict[str, Any]]]:
        return self.of_type("status")

    @property
    def links(self) -> list[tuple[float, str]]:
        """``link`` messages: (time, "down" | "up")."""
        return [(t, m.get("state")) for t, m in self.of_type("link")]


class PresenterClient(Client):
    """static/js/presenter.js: start on open, stream the script, outbox across reconnects.

    Frames leave the outbox only after a "live" status that is not the connection's greeting
    (which describes the event and may still say "live" after a server died under us).
    """

    fatal_closes = PRESENTER_FATAL_CLOSES

    def __init__(
        self,
        ports: Sequence[int],
        event: EventRef,
        script: Sequence[Frame] = (),
        *,
        go_live: bool = True,
        name: str = "presenter",
    ) -> None:
        super().__init__(ports, f"/ws/events/{event.slug}/presenter/", name)
        self.subprotocols = presenter_subprotocols(event.key)  # the key is never in the URL
        self.script = list(script)
        self.go_live = go_live
        self.live = False
        self.outbox: collections.deque[Frame] = collections.deque()
        self.dropped = 0  # frames pushed out of a full outbox
        self.produced = 0  # frames the "microphone" has made so far
        self.sent_at: dict[int, float] = {}  # frame index -> when it went out
        self.greeted = False
        self.reclaimed = False
        self._wake = asyncio.Event()
        self._sender: asyncio.Task | None = None
        self._producer: asyncio.Task | None = None

    async def run(self) -> None:
        self._producer = asyncio.create_task(self._produce())
        try:
            await super().run()
        finally:
            self._producer.cancel()

    async def _produce(self) -> None:
        """The microphone: one frame every 100 ms, in real time, into the outbox."""
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for frame in self.script:
            await asyncio.sleep(max(0.0, begin + frame.index * FRAME_SECONDS - loop.time()))
            self.outbox.append(frame)
            self.produced += 1
            if len(self.outbox) > MAX_BUFFERED_FRAMES:
                self.outbox.popleft()
                self.dropped += 1
            self._wake.set()

    def connection_opened(self, socket: websockets.ClientConnection) -> None:
        self.live = False
        self.greeted = False  # this connection's first status describes the event, not us
        self.reclaimed = False  # "start" sent again after the server said it lost us
        self._sender = asyncio.create_task(self._send_outbox(socket))

    def connection_closed(self) -> None:
        self.live = False
        if self._sender is not None:
            self._sender.cancel()

    async def on_open(self, socket: websockets.ClientConnection) -> None:
        if self.go_live:
            await socket.send(json.dumps({"type": "start"}))

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "status":
            self._status(message)
        elif kind == "error" and message.get("code") in PRESENTER_FATAL_ERRORS:
            self.fatal = True
        elif kind == "error" and message.get("code") == "engine_failed":
            if not message.get("fatal") and self.go_live:
                asyncio.get_running_loop().call_later(3.0, self._send_start)

    def _status(self, message: dict[str, Any]) -> None:
        """As presenter.js: audio waits for a "live" that answers our own start."""
        greeting, self.greeted = not self.greeted, True
        self.live = message.get("status") == "live" and not greeting
        if self.live:
            self.reclaimed = False
            self._wake.set()
        lost = message.get("status") == "paused" and message.get("reason") in PRESENTER_LOST
        if lost and not greeting and not self.reclaimed and self.go_live:
            self.reclaimed = True  # once per connection until live again
            self._send_start()

    def _send_start(self) -> None:
        socket = self.socket
        if socket is not None:
            task = asyncio.ensure_future(socket.send(json.dumps({"type": "start"})))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _send_outbox(self, socket: websockets.ClientConnection) -> None:
        """Send queued frames while the server says live on this connection."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.live and self.outbox and self.socket is socket:
                frame = self.outbox.popleft()
                try:
                    await socket.send(frame.pcm)
                except ConnectionClosed:
                    self.outbox.appendleft(frame)  # never reached an open socket: keep it
                    return
                self.sent_at[frame.index] = now()

    @property
    def drained(self) -> bool:
        """The whole script was produced and sent."""
        return self.produced == len(self.script) and not self.outbox

    async def wait_drained(self, seconds: float) -> bool:
        return await wait_until(lambda: self.drained or self.fatal, seconds)

    def utterance_ends(self) -> list[float | None]:
        """When each utterance's ending frame went out (None: never sent), in script order."""
        return [self.sent_at.get(f.index) for f in self.script if f.ends_utterance]

    def mid_utterance(self) -> bool:
        """The last frame sent was voiced and the next one in the script is voiced too."""
        if not self.sent_at or not self.live:
            return False
        last = max(self.sent_at)
        following = last + 1
        return (
            self.script[last].voiced
            and following < len(self.script)
            and self.script[following].voiced
        )

    @property
    def counts(self) -> list[tuple[float, dict[str, int]]]:
        """Listener counts as the presenter was told them."""
        return [(t, m.get("counts", {})) for t, m in self.of_type("listeners")]


@dataclass(frozen=True)
class Caption:
    """A caption message as a listener received it."""

    seq: int
    text: str
    at: float


class ListenerClient(Client):
    """static/js/audience.js: resume after the newest final held, record every caption."""

    fatal_closes = LISTENER_FATAL_CLOSES

    def __init__(
        self, ports: Sequence[int], event: EventRef, language: str, name: str = ""
    ) -> None:
        base = f"/ws/events/{event.slug}/audience/{language}/"
        super().__init__(ports, base, name or f"listener-{language}")
        self.base_path = base
        self.language = language
        self.finals: list[Caption] = []  # non-empty finals, in order of arrival
        self.partials: list[Caption] = []
        self.withdrawals: list[Caption] = []  # finals with empty text
        self.history_ends: list[tuple[float, int | None]] = []
        self.last_final: int | None = None
        self.ready = asyncio.Event()  # set at the first history_end

    def url(self) -> str:
        self.path = self.base_path
        if self.last_final is not None:
            self.path += f"?after={self.last_final}"
        return super().url()

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "caption":
            self._caption(message)
        elif kind == "history_end":
            self.history_ends.append((now(), message.get("last_seq")))
            self._note_final(message.get("last_seq"))
            self.ready.set()

    def _caption(self, message: dict[str, Any]) -> None:
        caption = Caption(int(message["seq"]), message.get("text", ""), now())
        if not message.get("final"):
            self.partials.append(caption)
            return
        (self.finals if caption.text else self.withdrawals).append(caption)
        self._note_final(caption.seq)

    def _note_final(self, seq: int | None) -> None:
        if seq is not None and (self.last_final is None or seq > self.last_final):
            self.last_final = seq

    # ---- what was received ----

    def final_texts(self) -> dict[int, str]:
        """seq -> text of the first final received for it."""
        texts: dict[int, str] = {}
        for caption in self.finals:
            texts.setdefault(caption.seq, caption.text)
        return texts

    def final_time(self, seq: int) -> float | None:
        return next((c.at for c in self.finals if c.seq == seq), None)

    def duplicates(self) -> list[int]:
        """Seqs received as a (non-empty) final more than once."""
        seen = collections.Counter(c.seq for c in self.finals)
        return sorted(seq for seq, times in seen.items() if times > 1)

    def out_of_order(self) -> list[int]:
        """Finals that arrived after a final with a higher seq."""
        late, highest = [], None
        for caption in self.finals:
            if highest is not None and caption.seq < highest:
                late.append(caption.seq)
            highest = caption.seq if highest is None else max(highest, caption.seq)
        return late

    def dangling_partials(self) -> list[int]:
        """Seqs whose partial is still on screen: no final, and no later withdrawal.

        As in audience.js, a history_end whose last_seq reaches past a partial also removes it.
        """
        finals = {c.seq for c in self.finals}
        dangling = []
        for seq in sorted({c.seq for c in self.partials} - finals):
            shown = max(c.at for c in self.partials if c.seq == seq)
            withdrawn = any(c.seq == seq and c.at >= shown for c in self.withdrawals)
            dropped = any(
                t >= shown and last is not None and last >= seq for t, last in self.history_ends
            )
            if not (withdrawn or dropped):
                dangling.append(seq)
        return dangling

    def noticed(self, outage: Outage, slack: float = 1.0) -> bool:
        """A ``link`` down, or a dropped connection, between the outage's start and its end."""
        window = (outage.start, outage.end + slack)
        downs = [t for t, state in self.links if state == "down"]
        return any(window[0] <= t <= window[1] for t in downs + [t for t, _ in self.closes])


# ---- comparing with the database ----------------------------------------------------------


@dataclass
class Comparison:
    """A listener's finals against the database's, for one language."""

    listener: str
    missing: list[int]
    extra: list[int]
    mismatched: list[int]  # received with another text than the database holds
    duplicates: list[int]
    out_of_order: list[int]
    dangling: list[int]

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> dict[str, list[int]]:
        names = ("missing", "extra", "mismatched", "duplicates", "out_of_order", "dangling")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


def compare(listener: ListenerClient, stored: Sequence[tuple[int, str]]) -> Comparison:
    """What ``listener`` lacks, has too much of, or has wrong against ``stored`` finals."""
    expected = dict(stored)
    received = listener.final_texts()
    return Comparison(
        listener=listener.name,
        missing=sorted(set(expected) - set(received)),
        extra=sorted(set(received) - set(expected)),
        mismatched=sorted(s for s in set(expected) & set(received) if expected[s] != received[s]),
        duplicates=listener.duplicates(),
        out_of_order=listener.out_of_order(),
        dangling=listener.dangling_partials(),
    )


def untranslated(text: str) -> str:
    """The scripted engine's source text of a translation: "[es] alpha bravo" -> "alpha bravo"."""
    return text.split("] ", 1)[1] if text.startswith("[") and "] " in text else text


def word_count(text: str) -> int:
    words = untranslated(text).split()
    assert all(word in WORDS for word in words), text
    return len(words)


# ---- a talk with a fault in the middle -------------------------------------------------------

Fault = Callable[[], Awaitable[Outage | None]]


@dataclass
class TalkResult:
    """Everything a drill recorded, and the database's finals per language afterwards."""

    servers: ServerSet
    event: EventRef
    presenter: PresenterClient
    listeners: list[ListenerClient]
    outage: Outage | None
    stored: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def comparisons(self) -> list[Comparison]:
        return [compare(one, self.stored[one.language]) for one in self.listeners]

    def problems(self) -> dict[str, dict[str, list[int]]]:
        """Per listener with a problem, what is wrong (empty when everyone matches the DB)."""
        return {c.listener: c.problems() for c in self.comparisons() if not c.ok}

    def reused_seqs(self) -> dict[int, set[str]]:
        """Seqs that stand for more than one utterance across languages, listeners and DB."""
        texts: dict[int, set[str]] = collections.defaultdict(set)
        for rows in self.stored.values():
            for seq, text in rows:
                texts[seq].add(untranslated(text))
        for one in self.listeners:
            for caption in one.finals:
                texts[caption.seq].add(untranslated(caption.text))
        return {seq: found for seq, found in texts.items() if len(found) > 1}

    def late_finals(self, allowance: float = 5.0) -> dict[str, list[int]]:
        """Finals that reached a listener later than ``allowance`` seconds after both their
        utterance ended and the outage ended (missing ones count as late).

        The k-th stored final is the k-th utterance of the script: valid while one session
        captions the whole script, which is what the Redis drills expect.
        """
        ends = self.presenter.utterance_ends()
        recovered = self.outage.end if self.outage else 0.0
        late: dict[str, list[int]] = {}
        for one in self.listeners:
            stored = self.stored[one.language]
            if len(stored) != len(ends):
                late[one.name] = [-1]  # the database does not hold one final per utterance
                continue
            for (seq, _), ended in zip(stored, ends, strict=True):
                arrived = one.final_time(seq)
                deadline = max(ended or float("inf"), recovered) + allowance
                if arrived is None or arrived > deadline:
                    late.setdefault(one.name, []).append(seq)
        return late

    def first_final_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` until every listener had a final that arrived after it."""
        waits = []
        for one in self.listeners:
            after = [c.at for c in one.finals if c.at >= moment]
            if not after:
                return None
            waits.append(min(after) - moment)
        return max(waits) if waits else None

    def timeline(self) -> str:
        """What each client saw and when (seconds from the talk's start), for a failure message:
        a drill that fails once in many runs must say where its messages stopped."""
        start = self.presenter.opens[0][0] if self.presenter.opens else 0.0

        def at(moment: float | None) -> str:
            return "-" if moment is None else f"{moment - start:.2f}"

        lines = []
        if self.outage is not None:
            lines.append(f"outage {at(self.outage.start)} to {at(self.outage.end)}")
        ends = " ".join(at(end) for end in self.presenter.utterance_ends())
        lines.append(f"presenter: utterance ends {ends}")
        statuses = [f"{at(t)} {m.get('status')}" for t, m in self.presenter.statuses]
        lines.append(f"presenter: statuses {', '.join(statuses)}; closes {self.presenter.closes}")
        for one in self.listeners:
            links = " ".join(f"{state}@{at(t)}" for t, state in one.links)
            finals = " ".join(f"{c.seq}@{at(c.at)}" for c in one.finals)
            partial = at(one.partials[-1].at) if one.partials else "-"
            lines.append(
                f"{one.name}: opens {[at(t) for t, _ in one.opens]} closes {one.closes} "
                f"links {links}; finals {finals}; last partial {partial}"
            )
        return "\n".join(lines)

    def read_stored(self) -> None:
        self.stored = {
            lang: stored_finals(self.servers, self.event.id, lang) for lang in self.event.languages
        }


def start_listeners(
    ports: Sequence[int], event: EventRef, languages: Sequence[str], per_language: int
) -> list[ListenerClient]:
    listeners = [
        ListenerClient(ports, event, lang, name=f"{lang}-{n}")
        for n in range(per_language)
        for lang in languages
    ]
    for one in listeners:
        one.start()
    return listeners


async def wait_ready(listeners: Sequence[ListenerClient], seconds: float = 60) -> None:
    """Wait until every listener got its history; fail loudly if one did not."""
    if not await wait_until(lambda: all(one.ready.is_set() for one in listeners), seconds):
        stuck = [one.name for one in listeners if not one.ready.is_set()]
        raise RuntimeError(f"{len(stuck)} listeners never got their history: {stuck[:5]}")


async def settle(result: TalkResult, seconds: float) -> None:
    """Wait until every listener holds every stored final and the database is quiet for 1 s."""
    deadline, last, quiet_since = now() + seconds, None, now()
    while now() < deadline:
        result.read_stored()
        snapshot = {lang: len(rows) for lang, rows in result.stored.items()}
        if snapshot != last:
            last, quiet_since = snapshot, now()
        delivered = all(
            set(dict(result.stored[one.language])) <= set(one.final_texts())
            for one in result.listeners
        )
        if delivered and now() - quiet_since >= 1.0:
            return
        await asyncio.sleep(0.2)


async def run_talk(
    servers: ServerSet,
    event: EventRef,
    *,
    presenter_ports: Sequence[int],
    listener_ports: Sequence[int],
    script: Sequence[Frame],
    per_language: int = 1,
    fault: Fault | None = None,
    fault_at: float = 3.0,
    settle_seconds: float = 8.0,
    listeners: list[ListenerClient] | None = None,
    presenter: PresenterClient | None = None,
) -> TalkResult:
    """Listeners join, the presenter talks through ``script``; ``fault`` starts at ``fault_at``.

    Pass ``presenter`` (not started) when the fault needs to watch it.
    """
    listeners = listeners or start_listeners(listener_ports, event, event.languages, per_language)
    await wait_ready(listeners)
    presenter = presenter or PresenterClient(presenter_ports, event, script)
    presenter.start()
    outage = None
    try:
        if fault is not None:
            await asyncio.sleep(fault_at)
            outage = await fault()
        await presenter.wait_drained(len(script) * FRAME_SECONDS + 60)
        result = TalkResult(servers, event, presenter, listeners, outage)
        await settle(result, settle_seconds)
    finally:
        await presenter.stop()
        await asyncio.sleep(0.5)  # the status that follows the presenter's leaving
        await asyncio.gather(*(one.stop() for one in listeners))
    result.read_stored()
    return result


def server_log_tail(servers: ServerSet, port: int, lines: int = 30) -> str:
    """The end of one server process's log, for failure messages."""
    try:
        return "\n".join(servers.log(port).splitlines()[-lines:])
    except OSError:
        return "(no log)"
