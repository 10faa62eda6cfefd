"""Join storm (issue 11, item 1): the hall scans the QR code together, into a talk under way.

The event already holds ``--stored`` finals in each of 4 languages. A driver stores and
publishes one more final per language 4 times a second, as the relay does (database first,
then the Redis stream). ``--seated`` listeners join beforehand; then ``--joiners`` listeners
join at ``--rate`` a second. Every listener (bench/listeners.py ``Joiner``) checks what it
is sent: the last CAPTION_HISTORY_LIMIT finals, consecutive and in order, before
``history_end``, then every live caption after it, none lost. Reported per target:

    adm/ref/tout   joins admitted (got history_end), refused (an HTTP error, a close or a
                   reset before history_end), timed out (no history_end in --wait seconds)
    hist ok        admitted joiners whose history was complete, in order, in their language
    end, live      seconds from opening the socket to history_end and to the first live
                   caption, p50/p99/max
    seat95         caption latency p95 of the seated listeners, for captions sent during
                   the storm (from the first joiner's start to the last joiner's first caption)
    ms/join        server CPU during the storm divided by the joins admitted; it includes
                   delivering captions meanwhile (the line below the row estimates that part
                   from the seated audience's steady CPU per caption)
    lost           live captions a listener (seated or joiner) never received

The line below each row adds: time to the 101 response; how many connections the kernel
dropped because the listening socket's accept queue was full (machine-wide; those clients
retry after 1, 3, 7 s...); the server's kernel CPU; joiners' own live latency.
``--profile DIR`` records every server process with py-spy during the storm (collapsed
stacks, one file per process; it costs the server some CPU, so profile in a separate run).

``--tree NAME=PATH`` serves the same target from another checkout too (its own database,
migrated by its own manage.py; the same Python environment), e.g. the code before a change:

    git worktree add /tmp/before-cache f62ece3
    python bench/joinstorm.py --tree "before cache=/tmp/before-cache" --processes 1,2
    python bench/joinstorm.py --joiners 500 --rate 100 --stored 50        # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fanout import (
    DRAIN_MAX_S,
    LANGUAGES,
    LOG_DIR,
    ROOT,
    SERVERS,
    UPDATES_PER_SECOND,
    answers,
    cpu_seconds,
    machine_busy_seconds,
    percentile,
    raise_file_limit,
    read_line,
    redis_server_pids,
    tell,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
SETTLE_S = 2.0  # after the seated audience joined, before measuring
STEADY_S = 3.0  # server CPU with the seated audience only, before the storm
AFTER_S = 2.0  # captions keep flowing this long after the storm
# After the driver stops: listen until nothing has come for this long. Longer than fanout.py's:
# a server still working through a storm can pause every socket for seconds, which is late,
# not lost.
DRAIN_QUIET_S = 10.0
EVENT_SETUP = """
from captions.models import Caption, Event, EventLanguage
e = Event.objects.create(title="Join storm", source_language="en")
for code in {languages!r}[1:]:
    EventLanguage.objects.create(event=e, code=code)
Caption.objects.bulk_create(
    Caption(event=e, seq=s, language=lang, text=f"stored caption {{s}} in {{lang}}, forty chars",
            source_text=f"stored caption {{s}}", start=2.0 * s, end=2.0 * s + 1.5)
    for s in range(1, {stored} + 1) for lang in {languages!r}
)
Event.objects.filter(pk=e.pk).update(last_seq={stored})
print(e.id, e.slug)
"""


# ---------------------------------------------------------------- client process


async def run_clients(job: dict) -> None:
    """Open ``job['urls']`` at ``job['rate']`` a second once told, then report what came.

    Lines in: ``go``; ``stop <last seq> <window start> <window end>`` (the driver's last
    utterance, and the storm's wall-clock window for latencies); ``close``. A JSON line out
    after each.
    """
    from listeners import join

    assert await read_line() == "go"
    cpu, started = time.process_time(), time.monotonic()
    tasks = []
    for i, url in enumerate(job["urls"]):
        tasks.append(asyncio.create_task(join(url, job["wait_s"])))
        await asyncio.sleep(max(0.0, (i + 1) / job["rate"] - (time.monotonic() - started)))
    joiners = await asyncio.gather(*tasks)
    busy = (time.process_time() - cpu) / (time.monotonic() - started)
    print(json.dumps({"busy": busy}), flush=True)
    last, window_start, window_end = (await read_line()).split()[1:]
    await drain([j for j in joiners if j.admitted], int(last))
    window = (float(window_start), float(window_end))
    print(json.dumps(report(joiners, int(last), window, job)), flush=True)
    assert await read_line() == "close"
    for joiner in joiners:
        if joiner.transport is not None:
            joiner.transport.abort()
    print("{}", flush=True)


async def drain(joiners: list, last: int) -> None:
    """Wait until every open listener has caption ``last``, or nothing has come for a while."""
    started = quiet_since = time.monotonic()
    seen = -1
    while time.monotonic() - started < DRAIN_MAX_S:
        if all(j.closed or (j.live and j.live[-1] >= last) for j in joiners):
            return
        count = sum(len(j.live) for j in joiners)
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > DRAIN_QUIET_S:
            return
        await asyncio.sleep(0.1)


def history_ok(joiner, stored: int, limit: int) -> bool:
    """The stored finals up to history_end's, the last ``limit`` of them, in order."""
    last = joiner.last_seq
    if last is None or last < stored:
        return False
    return joiner.history == list(range(max(1, last - limit + 1), last + 1))


def lost(joiner, last: int) -> int:
    """Live captions after its history that never came (up to the driver's ``last``)."""
    start = joiner.last_seq or 0
    got = {seq for seq in joiner.live if start < seq <= last}
    return max(0, last - start) - len(got)


def report(joiners: list, last: int, window: tuple[float, float], job: dict) -> dict:
    admitted = [j for j in joiners if j.admitted]
    in_window = [
        round(1000 * latency, 1)
        for j in admitted
        for sent, latency in zip(j.sent, j.latencies, strict=True)
        if window[0] <= sent <= window[1]
    ]
    return {
        "joins": len(joiners),
        "admitted": len(admitted),
        "failures": dict(Counter(j.failure for j in joiners if not j.admitted)),
        "history_bad": sum(
            not history_ok(j, job["stored"], job["limit"]) or j.wrong_language > 0 for j in admitted
        ),
        "no_live": sum(j.first_live_s is None for j in admitted),
        "upgraded_s": [round(j.upgraded_s, 4) for j in admitted],
        "history_end_s": [round(j.history_end_s, 4) for j in admitted],
        "first_live_s": [round(j.first_live_s, 4) for j in admitted if j.first_live_s],
        "lost": sum(lost(j, last) for j in admitted),
        "lost_by": sum(lost(j, last) > 0 for j in admitted),  # listeners that lost any
        "lost_examples": [
            (j.last_seq, j.live[:3], j.live[-3:], len(j.live), j.closed)
            for j in admitted
            if lost(j, last)
        ][:5],
        "duplicates": sum(len(j.live) - len(set(j.live)) for j in admitted),
        "dropped": sum(j.closed for j in admitted),
        "latencies_ms": sorted(in_window),
    }


def client_main() -> None:
    raise_file_limit()
    asyncio.run(run_clients(json.loads(sys.stdin.readline())))


# ---------------------------------------------------------------- driver process


def live_text(seq: int, language: str) -> str:
    """A final as the relay publishes it (captions.protocol.caption), plus its send time."""
    return json.dumps(
        {
            "type": "caption",
            "seq": seq,
            "segment_id": f"s{seq}",
            "final": True,
            "language": language,
            "text": f"live caption {seq} in {language}, about forty characters",
            "start": 2.0 * seq,
            "end": 2.0 * seq + 1.5,
            "bench": time.time(),
        },
        separators=(",", ":"),
    )


def store(database: sqlite3.Connection, event_id: int, seq: int) -> None:
    """Store one utterance's final in every language, as captions.storage.store_final does."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    # Checkouts since the control room have a revision column (NOT NULL, 0 as recognized).
    columns = {row[1] for row in database.execute("PRAGMA table_info(captions_caption)")}
    revision, zero = (", revision", ", 0") if "revision" in columns else ("", "")
    with database:
        database.executemany(
            "INSERT INTO captions_caption (event_id, seq, language, text, source_text, start,"
            f' "end", created_at{revision}) VALUES (?, ?, ?, ?, ?, ?, ?, ?{zero})',
            [
                (event_id, seq, lang, f"live caption {seq} in {lang}, about forty characters",
                 f"live caption {seq}", 2.0 * seq, 2.0 * seq + 1.5, now)
                for lang in LANGUAGES
            ],
        )  # fmt: skip


async def drive(args: argparse.Namespace) -> None:
    """From ``go`` to ``stop``: 4 finals a second per language, stored, then published."""
    import redis.asyncio as redis

    database = sqlite3.connect(args.database, timeout=20, check_same_thread=False)
    client = redis.Redis.from_url(REDIS_URL)
    print("ready", flush=True)
    assert await read_line() == "go"
    stop = asyncio.ensure_future(read_line())
    seq, sent, late = args.first_seq - 1, 0, 0.0
    cpu, started = time.process_time(), time.monotonic()
    while not stop.done():
        seq += 1
        await asyncio.to_thread(store, database, args.event, seq)
        for lang in LANGUAGES:
            envelope = f"c:{seq}:1:{live_text(seq, lang)}"  # captions.fanout.Envelope.encode
            await client.publish(f"{args.prefix}:stream:{args.event}:{lang}", envelope)
        sent += 1
        delay = started + sent / UPDATES_PER_SECOND - time.monotonic()
        late = max(late, -delay)
        await asyncio.wait([stop], timeout=max(0.0, delay))
    busy = (time.process_time() - cpu) / (time.monotonic() - started)
    print(json.dumps({"last_seq": seq, "sent": sent, "late_s": late, "busy": busy}), flush=True)


# ---------------------------------------------------------------- checkouts and servers


@contextlib.contextmanager
def serving_from(root: Path):
    """tests.servers runs manage.py and servers in its own checkout: point it at ``root``."""
    from tests import servers

    saved, servers.ROOT = servers.ROOT, root
    try:
        yield
    finally:
        servers.ROOT = saved


@dataclass
class Tree:
    """One checkout to serve from: its own migrated database and Redis key prefix."""

    name: str
    root: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tests.servers import ServerSet

        run = "js" + uuid.uuid4().hex[:8]
        self.workdir.mkdir(parents=True)
        self.database = self.workdir / "db.sqlite3"
        self.prefix = f"test-captions-{run}"  # tests/settings.py: CAPTIONS_REDIS_PREFIX
        environment = {
            **os.environ,
            "CAPTIONS_TEST_RUN": run,
            "CHANNEL_LAYER_PREFIX": f"test-{run}",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CAPTIONS_VAR_DIR": str(self.workdir),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "PYTHONPATH": str(self.root),
            **self.env,
        }
        self.servers = ServerSet(self.workdir, environment)
        self.manage("migrate", "--noinput")

    def manage(self, *args: str) -> str:
        with serving_from(self.root):
            return self.servers.manage(*args)

    def create_event(self, stored: int) -> tuple[int, str]:
        """A new event in every bench language, holding ``stored`` finals in each."""
        code = EVENT_SETUP.format(languages=LANGUAGES, stored=stored)
        event_id, slug = self.manage("shell", "-c", code).strip().splitlines()[-1].split()
        return int(event_id), slug

    def start(self, server: str, processes: int) -> list[int]:
        with serving_from(self.root):
            return [self.servers.start(server=server) for _ in range(processes)]

    def pids(self) -> list[int]:
        return [process.pid for process, _ in self.servers.processes]

    def driver(self, event_id: int, first_seq: int) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, __file__, "drive", "--event", str(event_id), "--prefix",
             self.prefix, "--database", str(self.database), "--first-seq", str(first_seq)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout.readline().strip() == "ready"
        return process

    def stop(self, label: str) -> None:
        self.servers.stop_all()
        LOG_DIR.mkdir(exist_ok=True)
        for log in self.workdir.glob("daphne-*.log"):  # kept for post-mortems
            log.rename(LOG_DIR / f"joinstorm-{label}-{log.name}")


# ---------------------------------------------------------------- one storm


@dataclass
class Storm:
    label: str
    processes: int
    joins: int
    load: tuple = ()
    admitted: int = 0
    refused: int = 0
    timed_out: int = 0
    history_ok: int = 0
    upgraded_s: list = field(default_factory=list)  # p50, p99, max
    end_s: list = field(default_factory=list)
    live_s: list = field(default_factory=list)
    seated_p95_ms: float = float("nan")
    seated_latencies: int = 0
    cpu_s: float = 0.0
    storm_s: float = 0.0
    steady_cores: float = 0.0
    fanout_cpu_s: float = 0.0  # estimate: steady CPU per delivered caption x those delivered
    fanout_per_message_s: float = float("nan")
    lost: int = 0
    detail: dict = field(default_factory=dict)
    client_busy: float = 0.0
    other_busy: float = 0.0

    @property
    def ms_per_join(self) -> float:
        return 1000 * self.cpu_s / max(self.admitted, 1)

    @property
    def us_per_message(self) -> float:
        """Steady server CPU per delivered caption, before the storm (the seated audience)."""
        return 1e6 * self.fanout_per_message_s

    def row(self) -> str:
        def spread(values: list) -> str:
            return "/".join(f"{v:.2f}" for v in values) if values else "-"

        return (
            f"{self.label:<22} {self.processes:>2} {self.joins:>6} {self.admitted:>6} "
            f"{self.refused:>4} {self.timed_out:>4} {self.history_ok:>7} "
            f"{spread(self.end_s):>17} {spread(self.live_s):>17} {self.seated_p95_ms:>7.0f} "
            f"{self.ms_per_join:>7.2f} {self.lost:>5} {self.client_busy:>5.2f} "
            f"{self.other_busy:>5.2f} {self.load[0]:>5.2f}"
        )


HEADER = (
    f"{'target':<22} pr  joins    adm  ref tout hist ok {'end p50/p99/max s':>17} "
    f"{'live p50/p99/max s':>17} seat95  ms/join  lost cbusy other load1"
)


def spawn(urls: list[str], count: int, rate: float, procs: int, args) -> list[subprocess.Popen]:
    """Client processes for ``count`` listeners, spread evenly over ``urls`` and shuffled."""
    every = [urls[i % len(urls)] for i in range(count)]
    random.Random(count).shuffle(every)
    clients = []
    for k in range(procs if count else 0):
        process = subprocess.Popen(
            [sys.executable, __file__, "client"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        job = {"urls": every[k::procs], "rate": rate / procs, "wait_s": args.wait}
        job.update(stored=args.stored, limit=args.history_limit)
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        clients.append(process)
    return clients


def profile(pids: list[int], directory: str | None, label: str) -> list[subprocess.Popen]:
    """py-spy on every server process until stopped (``--profile``), collapsed stacks."""
    if not directory:
        return []
    Path(directory).mkdir(parents=True, exist_ok=True)
    name = label.replace(" ", "-").replace("(", "").replace(")", "")
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--rate", "250",
               "--format", "raw", "--nonblocking"]  # fmt: skip
    return [
        subprocess.Popen(
            [*command, "--pid", str(pid), "-o", f"{directory}/{name}-{pid}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def run_storm(tree: Tree, target: str, processes: int, args) -> Storm:
    """One storm on ``processes`` server processes of ``target`` served from ``tree``."""
    storm = Storm(f"{target} ({tree.name})", processes, args.joiners, load=os.getloadavg())
    event_id, slug = tree.create_event(args.stored)
    ports = tree.start(SERVERS[target], processes)
    pids = tree.pids()
    # As the pages ask: the history in one message (a checkout that predates it ignores this
    # and sends one message per final, then history_end; the clients take both).
    path = f"/ws/events/{slug}/audience/{{}}/?history=frame"
    urls = [f"ws://127.0.0.1:{port}" + path.format(lang) for port in ports for lang in LANGUAGES]
    children: list[subprocess.Popen] = []
    try:
        driver = tree.driver(event_id, args.stored + 1)
        children.append(driver)
        tell([driver], "go")
        seated = spawn(urls, args.seated, args.seated_rate, 1, args)
        children += seated
        tell(seated, "go")
        answers(seated)
        joiners = spawn(urls, args.joiners, args.rate, args.client_procs, args)
        children += joiners
        time.sleep(SETTLE_S)
        before = cpu_seconds(pids)
        time.sleep(STEADY_S)
        storm.steady_cores = (cpu_seconds(pids) - before) / STEADY_S
        measure_storm(storm, pids, joiners, children, args)
        time.sleep(AFTER_S)
        tell([driver], "stop")
        drove = answers([driver])[0]
        everyone = seated + joiners
        tell(everyone, f"stop {drove['last_seq']} {storm.detail['window'][0]} "
             f"{storm.detail['window'][1]}")  # fmt: skip
        summarize(storm, answers(seated), answers(joiners), args)
        storm.detail["driver"] = drove
        tell(everyone, "close")
        answers(everyone)
        return storm
    finally:
        for process in children:
            if process.poll() is None:
                process.stdin.close()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        tree.stop(f"{target}-{processes}-{tree.name.replace(' ', '-')}")


def system_seconds(pids: list[int]) -> float:
    """CPU seconds ``pids`` spent in the kernel: socket writes (with loopback, the clients'
    receiving too), accepts, reads."""
    total = 0.0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def listen_overflows() -> int:
    """Connections the kernel dropped because a listening socket's accept queue was full
    (machine-wide): the server did not accept fast enough, and the client retries its SYN
    after 1, 3, 7, 15 s."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names[0] == "TcpExt:":
            return int(dict(zip(names, values, strict=True)).get("ListenOverflows", 0))
    return 0


def measure_storm(storm: Storm, pids: list[int], joiners, children, args) -> None:
    """Let the joiners in; server CPU and the wall-clock window from go to the last joiner."""
    ours = [os.getpid(), *(c.pid for c in children), *redis_server_pids()]
    profilers = profile(pids, args.profile, f"{storm.label}-{storm.processes}")
    ours += [p.pid for p in profilers]
    cpu, mine, machine = cpu_seconds(pids), cpu_seconds(ours), machine_busy_seconds()
    overflows, system = listen_overflows(), system_seconds(pids)
    started, wall = time.monotonic(), time.time()
    tell(joiners, "go")
    storm.client_busy = max(r["busy"] for r in answers(joiners))
    storm.cpu_s = cpu_seconds(pids) - cpu
    storm.storm_s = time.monotonic() - started
    storm.detail["window"] = (wall, time.time())
    storm.detail["listen_overflows"] = listen_overflows() - overflows
    storm.detail["system_s"] = system_seconds(pids) - system
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    mine = cpu_seconds(ours) + storm.cpu_s - mine
    storm.other_busy = max(0.0, machine_busy_seconds() - machine - mine) / storm.storm_s


def summarize(storm: Storm, seated: list[dict], joiners: list[dict], args) -> None:
    failures = Counter()
    for r in joiners:
        failures.update(r["failures"])
    storm.admitted = sum(r["admitted"] for r in joiners)
    storm.timed_out = failures.pop("timeout", 0)
    storm.refused = sum(failures.values())
    storm.history_ok = storm.admitted - sum(r["history_bad"] for r in joiners)
    for name, key in (
        ("upgraded_s", "upgraded_s"),
        ("end_s", "history_end_s"),
        ("live_s", "first_live_s"),
    ):
        values = sorted(v for r in joiners for v in r[key])
        setattr(storm, name, [percentile(values, 50), percentile(values, 99), values[-1]]
                if values else [])  # fmt: skip
    latencies = sorted(v for r in seated for v in r["latencies_ms"])
    storm.seated_p95_ms = percentile(latencies, 95)
    storm.seated_latencies = len(latencies)
    storm.lost = sum(r["lost"] for r in seated + joiners)
    delivered = len(latencies) + sum(len(r["latencies_ms"]) for r in joiners)
    if args.seated:  # else no steady fan-out to measure it by
        per_message = storm.steady_cores / (args.seated * UPDATES_PER_SECOND)
        storm.fanout_per_message_s = per_message
        storm.fanout_cpu_s = per_message * delivered
    storm.detail.update(
        refused=dict(failures),
        no_live=sum(r["no_live"] for r in joiners),
        duplicates=sum(r["duplicates"] for r in seated + joiners),
        lost_by=(sum(r["lost_by"] for r in seated), sum(r["lost_by"] for r in joiners)),
        lost_examples=[e for r in seated + joiners for e in r["lost_examples"]][:5],
        dropped=sum(r["dropped"] for r in seated + joiners),
        seated_admitted=sum(r["admitted"] for r in seated),
        seated_history_bad=sum(r["history_bad"] for r in seated),
        joiner_live_p95_ms=percentile(sorted(v for r in joiners for v in r["latencies_ms"]), 95),
    )


def detail_line(storm: Storm) -> str:
    d = storm.detail
    ex_fanout = 1000 * (storm.cpu_s - storm.fanout_cpu_s) / max(storm.admitted, 1)
    return (
        f"   101 p50/p99 {'/'.join(f'{v:.2f}' for v in storm.upgraded_s[:2])} s; "
        f"accept queue overflows {d['listen_overflows']}; "
        f"storm {storm.storm_s:.1f} s, server CPU {storm.cpu_s:.2f} s ({d['system_s']:.2f} "
        f"in the kernel; steady before: "
        f"{storm.steady_cores:.2f} cores; minus fan-out est. {ex_fanout:.2f} ms/join); seated "
        f"{d['seated_admitted']} ({storm.seated_latencies} captions in the window, "
        f"{d['seated_history_bad']} bad histories); joiners' live p95 "
        f"{d['joiner_live_p95_ms']:.0f} ms, no live {d['no_live']}; refused {d['refused']}; "
        f"duplicates {d['duplicates']}, dropped {d['dropped']}, listeners that lost any "
        f"(seated, joiners) {d['lost_by']}; driver late "
        f"{d['driver']['late_s']:.2f} s"
    )


def print_scaling(results: list[Storm]) -> None:
    """Issue 11, item 2: CPU per delivered message and per join, by processes, side by side."""
    print("\nCPU by server processes (steady: the seated audience before the storm)")
    print(f"{'target':<34} pr  us/message  ms/join  ms/join minus fan-out")
    for storm in results:
        ex_fanout = 1000 * (storm.cpu_s - storm.fanout_cpu_s) / max(storm.admitted, 1)
        print(
            f"{storm.label:<34} {storm.processes:>2} {storm.us_per_message:>11.1f} "
            f"{storm.ms_per_join:>8.2f} {ex_fanout:>8.2f}"
        )


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Join storm benchmark (issue 11, item 1)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("client")
    driver = sub.add_parser("drive")
    driver.add_argument("--event", type=int, required=True)
    driver.add_argument("--prefix", required=True)
    driver.add_argument("--database", required=True)
    driver.add_argument("--first-seq", type=int, required=True)
    parser.add_argument("--joiners", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500, help="joins a second")
    parser.add_argument("--stored", type=int, default=200, help="finals per language already")
    parser.add_argument("--seated", type=int, default=1000, help="listeners before the storm")
    parser.add_argument("--seated-rate", type=float, default=250)
    parser.add_argument("--history-limit", type=int, default=200, help="CAPTION_HISTORY_LIMIT")
    parser.add_argument("--wait", type=float, default=30, help="seconds a joiner waits")
    parser.add_argument("--processes", default="1", help="server processes, e.g. 1,2")
    parser.add_argument("--targets", default="uvis", help="from bench/fanout.py: uvis, uvic, ours")
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="also serve from this checkout (repeatable)")  # fmt: skip
    parser.add_argument("--only-trees", action="store_true", help="not from this checkout")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--profile", metavar="DIR", help="py-spy each server during the storm")
    parser.add_argument("--json", help="also write every result to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.command == "client":
        return client_main()
    if args.command == "drive":
        return asyncio.run(drive(args))
    raise_file_limit()
    env = {"LISTENERS_PER_ADDRESS": "1000000", "CAPTION_HISTORY_LIMIT": str(args.history_limit)}
    env.update(pair.split("=", 1) for pair in args.server_env)
    print(
        f"load before: {os.getloadavg()}  {args.joiners} joiners at {args.rate:.0f}/s into "
        f"{args.stored} stored finals x {len(LANGUAGES)} languages, {args.seated} seated, "
        f"{UPDATES_PER_SECOND} updates/s per language  settings: {env}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = [("this tree", str(ROOT))] * (not args.only_trees)
        checkouts += [tree.split("=", 1) for tree in args.tree]
        trees = [
            Tree(name, Path(path).resolve(), Path(tmp) / f"tree{i}", env)
            for i, (name, path) in enumerate(checkouts)
        ]
        print(HEADER, flush=True)
        for processes in [int(p) for p in args.processes.split(",")]:
            for target in args.targets.split(","):
                for tree in trees:  # interleaved: each size meets every tree under like load
                    storm = run_storm(tree, target, processes, args)
                    results.append(storm)
                    print(storm.row(), flush=True)
                    print(detail_line(storm), flush=True)
    print(f"load after: {os.getloadavg()}")
    print_scaling(results)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))


if __name__ == "__main__":
    main()
