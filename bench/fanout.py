"""Fan-out benchmark: how many listeners one machine serves with p95 latency under 500 ms.

Starts our server (1 or 2 Daphne processes, the real consumers, the real Redis) and, in the
same run, the minimal `websockets` broadcast server of bench/raw_broadcast.py. Listener
clients (in separate processes) connect across 4 languages; caption updates are published
4 times a second per language through the same Redis path the relay uses (the engine is
left out: this measures fan-out). Each message carries its send time; clients report the
delivery latency of every message, and what was lost.

    python bench/fanout.py                      # capacity search, ours (1 and 2 processes) vs raw
    python bench/fanout.py --quick              # a few sizes only
    python bench/fanout.py --listeners 2000 --processes 1 --targets ours
    python bench/fanout.py --burst              # 2,000 joins at 200/s, then a mass disconnect
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LANGUAGES = ["en", "es", "fr", "de"]
LOG_DIR = Path(tempfile.gettempdir()) / "fanout-bench-logs"
UPDATES_PER_SECOND = 4  # per language
P95_LIMIT_MS = 500


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- client process


async def run_clients(urls: list[str], rate: float, settle: float, listen: float) -> dict:
    """Connect to ``urls`` at ``rate`` per second, record latencies, report as JSON."""
    from listeners import Stats, open_listener

    stats = Stats()
    transports: list = []
    connect_times: list[float] = []

    async def open_one(url: str) -> None:
        started = time.monotonic()
        transport = await open_listener(url, stats, wait_ready="/ws/events/" in url)
        if transport is not None:
            transports.append(transport)
            connect_times.append(time.monotonic() - started)

    openers = []
    start_clock = time.monotonic()
    for i, url in enumerate(urls):
        openers.append(asyncio.create_task(open_one(url)))
        if rate:
            await asyncio.sleep(max(0.0, (i + 1) / rate - (time.monotonic() - start_clock)))
    await asyncio.gather(*openers)
    failed = len(urls) - len(transports)
    print(json.dumps({"connected": len(transports), "failed": failed}), flush=True)
    await asyncio.sleep(settle)
    # Wait for the orchestrator's "go" line, then listen for the measured window.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(listen)
    sample = sorted(stats.latencies)
    closing = time.monotonic()
    for transport in transports:  # a mass disconnect: every listener at once
        transport.abort()
    return {
        "connected": len(transports),
        "failed": failed,
        "received": len(sample),
        "latencies_ms": [round(x * 1000, 1) for x in sample],
        "connect_p95_s": percentile(sorted(connect_times), 95) if connect_times else None,
        "close_s": time.monotonic() - closing,
    }


def client_main(args: argparse.Namespace) -> None:
    raise_file_limit()
    urls = json.loads(sys.stdin.readline())
    result = asyncio.run(run_clients(urls, args.rate, args.settle, args.listen))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- orchestration


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[index]


@dataclass
class Result:
    target: str
    processes: int
    listeners: int
    connected: int
    failed: int
    sent: int
    expected: int
    received: int
    p50: float
    p95: float
    p99: float
    server_cpu_s: float

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.lost == 0 and self.p95 < P95_LIMIT_MS

    def row(self) -> str:
        return (
            f"{self.target:<5} {self.processes:>2} {self.listeners:>6} {self.connected:>6} "
            f"{self.failed:>5} {self.lost:>7} {self.p50:>8.1f} {self.p95:>8.1f} {self.p99:>8.1f} "
            f"{self.server_cpu_s:>7.1f} {'yes' if self.ok else 'no':>4}"
        )


HEADER = "target pr  listn   conn  fail    lost  p50(ms)  p95(ms)  p99(ms)  cpu(s)  ok?"


class Bench:
    """One database, one event, and the servers under test."""

    def __init__(self, workdir: Path) -> None:
        from tests.servers import server_set

        self.servers = server_set(workdir)
        self.prefix = f"test-captions-{self.servers.env['CAPTIONS_TEST_RUN']}"
        out = self.servers.shell(
            "from captions.models import Event, EventLanguage\n"
            "e = Event.objects.create(title='Bench', source_language='en')\n"
            "[EventLanguage.objects.create(event=e, code=c) for c in ('es', 'fr', 'de')]\n"
            "print(e.id, e.slug)"
        )
        event_id, self.slug = out.strip().splitlines()[-1].split()
        self.event_id = int(event_id)

    def start_ours(self, processes: int, server: str = "daphne") -> list[str]:
        ports = [self.servers.start(server=server) for _ in range(processes)]
        self.ports = ports
        return [
            f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/events/{self.slug}/audience/"
            f"{LANGUAGES[i % len(LANGUAGES)]}/"
            for i in range(len(LANGUAGES) * len(ports))
        ]

    def start_raw(self) -> list[str]:
        from tests.servers import free_port

        port = free_port()
        self.raw = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "raw_broadcast.py"),
                "--port",
                str(port),
                "--event",
                str(self.event_id),
                "--prefix",
                self.prefix,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=self.servers.env,
        )
        self.raw.stdout.readline()  # "ready"
        self.raw_pid = self.raw.pid
        return [f"ws://127.0.0.1:{port}/{lang}/" for lang in LANGUAGES]

    def server_pids(self, target: str) -> list[int]:
        if target == "raw":
            return [self.raw_pid]
        return [p.pid for p, _ in self.servers.processes]

    def stop(self, target: str) -> None:
        if target == "raw":
            self.raw.terminate()
            self.raw.wait(10)
        else:
            self.servers.stop_all()
            for log in self.servers.workdir.glob("daphne-*.log"):  # keep for post-mortems
                LOG_DIR.mkdir(exist_ok=True)
                log.rename(LOG_DIR / f"{target}-{log.name}")


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


async def publish_updates(bench: Bench, seconds: float) -> int:
    """Publish 4 updates a second per language; return how many per language were sent."""
    import redis.asyncio as redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    interval = 1 / UPDATES_PER_SECOND
    count = int(seconds * UPDATES_PER_SECOND)
    started = time.monotonic()
    for n in range(count):
        for lang in LANGUAGES:
            body = json.dumps(
                {
                    "type": "caption",
                    "seq": n + 1,
                    "final": True,
                    "language": lang,
                    "text": f"caption number {n} in {lang}, about forty characters long",
                    "bench": time.time(),
                }
            )
            await client.publish(
                f"{bench.prefix}:stream:{bench.event_id}:{lang}", f"c:{n + 1}:1:{body}"
            )
        await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.monotonic()))
    await client.aclose()
    return count


def spawn_clients(urls: list[str], listeners: int, rate: float, listen: float, procs: int):
    """Start client processes, each with its share of ``listeners`` connections."""
    clients = []
    for k in range(procs):
        share = [urls[i % len(urls)] for i in range(k, listeners, procs)]
        process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "client",
                "--rate",
                str(rate / procs),
                "--listen",
                str(listen),
                "--settle",
                "1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        process.stdin.write(json.dumps(share) + "\n")
        process.stdin.flush()
        clients.append((process, len(share)))
    return clients


def run_one(bench: Bench, target: str, processes: int, listeners: int, args) -> Result:
    if target == "raw":
        urls = bench.start_raw()
    else:
        urls = bench.start_ours(processes, server="uvicorn" if target == "uvic" else "daphne")
    pids = bench.server_pids(target)
    try:
        clients = spawn_clients(urls, listeners, args.rate, args.seconds + 2, args.client_procs)
        connected = failed = 0
        for process, _ in clients:
            first = json.loads(process.stdout.readline())
            connected += first["connected"]
            failed += first["failed"]
        time.sleep(1.5)
        cpu_before = cpu_seconds(pids)
        for process, _ in clients:
            process.stdin.write("go\n")
            process.stdin.flush()
        sent = asyncio.run(publish_updates(bench, args.seconds))
        cpu = cpu_seconds(pids) - cpu_before
        received, latencies = 0, []
        for process, _ in clients:
            report = json.loads(process.stdout.readline())
            received += report["received"]
            latencies.extend(report["latencies_ms"])
            process.wait(30)
        latencies.sort()
        return Result(
            target,
            processes,
            listeners,
            connected,
            failed,
            sent,
            sent * connected,
            received,
            percentile(latencies, 50),
            percentile(latencies, 95),
            percentile(latencies, 99),
            cpu,
        )
    finally:
        bench.stop(target)


def capacity(results: list[Result]) -> int:
    return max((r.listeners for r in results if r.ok), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out benchmark")
    sub = parser.add_subparsers(dest="command")
    client = sub.add_parser("client")
    client.add_argument("--rate", type=float, default=500)
    client.add_argument("--listen", type=float, default=10)
    client.add_argument("--settle", type=float, default=1)
    parser.add_argument("--listeners", default="")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument(
        "--targets",
        default="raw,ours,uvic",
        help="raw: websockets baseline; ours: Daphne; uvic: our app under uvicorn",
    )
    parser.add_argument("--seconds", type=float, default=8, help="measured window per size")
    parser.add_argument("--rate", type=float, default=800, help="connections opened per second")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.command == "client":
        return client_main(args)
    raise_file_limit()
    sizes = [int(n) for n in args.listeners.split(",") if n] or (
        [1000, 4000, 8000] if args.quick else [1000, 2000, 4000, 6000, 8000, 12000, 16000]
    )
    print(f"load before: {os.getloadavg()}  sizes: {sizes}  window: {args.seconds}s", flush=True)
    print(HEADER, flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        for target in args.targets.split(","):
            for processes in (
                [1] if target == "raw" else [int(p) for p in args.processes.split(",")]
            ):
                for n in sizes:
                    result = run_one(bench, target, processes, n, args)
                    results.append(result)
                    print(result.row(), flush=True)
                    if not result.ok and result.p95 > 4 * P95_LIMIT_MS:
                        break  # far past the limit: larger sizes only take longer to fail
    summarize(results)


def summarize(results: list[Result]) -> None:
    raw = capacity([r for r in results if r.target == "raw"])
    print(f"\nload after: {os.getloadavg()}")
    print(f"raw websockets server: largest N, p95 < {P95_LIMIT_MS} ms, none lost or refused: {raw}")
    for target, server in (("ours", "Daphne"), ("uvic", "uvicorn")):
        for processes in sorted({r.processes for r in results if r.target == target}):
            mine = [r for r in results if r.target == target and r.processes == processes]
            ours = capacity(mine)
            ratio = f"{ours / raw:.2f}" if raw else "n/a"
            print(f"ours under {server}, {processes} process(es): {ours}  (ratio to raw: {ratio})")
    per_message = [
        (r.target, r.processes, r.listeners, 1e6 * r.server_cpu_s / max(r.received, 1))
        for r in results
    ]
    print(
        "server CPU per delivered message (µs): "
        + ", ".join(f"{t}/{p}p/{n}: {us:.1f}" for t, p, n, us in per_message)
    )


if __name__ == "__main__":
    main()
