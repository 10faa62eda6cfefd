"""The baseline: a minimal caption broadcast server written with the `websockets` library.

Listeners connect to ws://HOST:PORT/<language>/; the server subscribes once to the same
Redis streams our service uses and forwards each message, serialized once, to every listener
of that language with `websockets.broadcast` (which never waits for a slow client).

    python bench/raw_broadcast.py --port 8765 --event 1 --languages en,es,fr,de --prefix PREFIX
"""

from __future__ import annotations

import argparse
import asyncio
import resource

import redis.asyncio as redis
from websockets.asyncio.server import broadcast, serve

LANGUAGES = ("en", "es", "fr", "de")


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main(args: argparse.Namespace) -> None:
    listeners: dict[str, set] = {lang: set() for lang in args.languages}

    async def handler(connection) -> None:
        language = connection.request.path.strip("/")
        if language not in listeners:
            await connection.close(4005)
            return
        listeners[language].add(connection)
        try:
            await connection.wait_closed()
        finally:
            listeners[language].discard(connection)

    client = redis.Redis.from_url(args.redis, decode_responses=True)
    pubsub = client.pubsub()
    streams = {f"{args.prefix}:stream:{args.event}:{lang}": lang for lang in args.languages}
    await pubsub.subscribe(*streams)
    async with serve(handler, "127.0.0.1", args.port, max_queue=16, ping_interval=None):
        print("ready", flush=True)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            # The client text of captions.fanout.Envelope, parsed here so the baseline
            # stays free of our package.
            text = message["data"].split(":", 3)[3]
            broadcast(listeners[streams[message["channel"]]], text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--event", type=int, required=True)
    parser.add_argument(
        "--languages", type=lambda s: s.split(","), default=["en", "es", "fr", "de"]
    )
    parser.add_argument("--prefix", default="captions")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    raise_file_limit()
    asyncio.run(main(parser.parse_args()))
