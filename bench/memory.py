"""Server memory under anonymous junk: random event slugs and overlong ones (issue 9, item 1).

Starts one listener server as deployed (uvicorn, websockets-sansio) on a fresh database and
opens WebSockets to event paths that do not exist, as a scanner or a careless script would.
Prints the server's resident memory after a warm-up and after each batch: the growth is what
such clients can make a server keep.

    .venv/bin/python bench/memory.py                 # 100,000 random slugs, 2,000 long ones
    .venv/bin/python bench/memory.py --slugs 20000
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import server_set  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def knock(port: int, slugs: list[str], concurrency: int) -> int:
    """Open a socket to each slug's audience path; return how many the server accepted."""
    accepted = 0
    queue = list(reversed(slugs))

    async def worker() -> None:
        nonlocal accepted
        while queue:
            slug = queue.pop()
            url = f"ws://127.0.0.1:{port}/ws/events/{slug}/audience/es/"
            try:
                async with websockets.connect(
                    url, origin=f"http://127.0.0.1:{port}", open_timeout=10, compression=None
                ) as socket:
                    accepted += 1
                    await socket.wait_closed()
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


def random_slugs(count: int, length: int) -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return ["".join(secrets.choice(alphabet) for _ in range(length)) for _ in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slugs", type=int, default=100_000)
    parser.add_argument("--long", type=int, default=2_000, help="slugs of 7,000 characters")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        servers = server_set(Path(workdir))
        port = servers.start(server="uvicorn-sansio")
        pid = servers.processes[-1][0].pid
        try:
            await knock(port, random_slugs(2_000, 6), args.concurrency)  # warm-up
            base = rss_mib(pid)
            print(f"after warm-up (2,000 random slugs): {base:7.1f} MiB")
            for label, slugs in (
                (f"{args.slugs:,} random 6-character slugs", random_slugs(args.slugs, 6)),
                (f"{args.long:,} slugs of 7,000 characters", random_slugs(args.long, 7_000)),
            ):
                started = time.monotonic()
                accepted = await knock(port, slugs, args.concurrency)
                now = rss_mib(pid)
                print(
                    f"after {label}: {now:7.1f} MiB ({now - base:+.1f} MiB), "
                    f"{accepted:,} handshakes accepted, {time.monotonic() - started:.0f} s"
                )
        finally:
            servers.stop_all()


if __name__ == "__main__":
    asyncio.run(main())
