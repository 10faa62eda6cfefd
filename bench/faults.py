"""Fault drills: what each fault of a live event costs the audience, beside a no-fault baseline.

Each drill gets a fresh database, its own redis-server (tests/faultkit.py) and real server
processes, as deployed: Daphne for the presenter, uvicorn (websockets-sansio) for listeners.
Listeners (20 by default, in Spanish and French) join, a scripted presenter talks for about
24 s (words of 100 ms, pauses of 0.2-0.4 s; tests/fake_engine.py turns them into captions),
and one fault strikes a few seconds in:

    no fault             the baseline
    redis restart 3s     Redis stopped, back 3 s later with nothing in it
    redis restart 30s    the same, down 30 s (the talk is longer, to go on after it)
    redis freeze 5s      Redis SIGSTOPped for 5 s: connections hang, then it carries on
    kill -9 listeners    the listeners' uvicorn process killed; they move to a second one
    kill -9 presenter    the presenter's Daphne killed mid-utterance; it moves to a second one
    10 presenters        ten presenter connections with the key at once, one round
    mass disconnect 1k   1,000 more listeners (another uvicorn process) drop at once, half
                         without a close handshake, while the 20 go on listening

Run it from the repository root (about 5-6 minutes; no other Redis or server is touched):

    .venv/bin/python bench/faults.py
    .venv/bin/python bench/faults.py --only "no fault,redis restart 3s" --listeners 40

Columns, one row per drill:

    spoken     utterances the presenter sent to a server (each ends in a pause)
    in DB      finals the database holds (one language; seqs)
    received   finals received by the listener that received the fewest
    gaps       finals in the database missing at the worst listener
    dups       finals received twice, at the worst listener
    dangling   partials left on screen (no final, no withdrawal), at the worst listener
    p.closes   closes of presenter connections the client did not ask for (codes in notes)
    recovery   seconds from the recovery (Redis back or thawed; the kill, the presenters'
               race, the drop) until every listener had received a final again; "never" if
               one did not; it includes up to one utterance of speech (about 1 s)
    notes      what else the drill saw; "errors" counts ERROR lines in the servers' logs
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultkit import (  # noqa: E402
    Outage,
    PresenterClient,
    RedisServer,
    TalkResult,
    create_event,
    now,
    run_talk,
    script_from_runs,
    settle,
    start_listeners,
    stream_prefix,
    talk_script,
    wait_ready,
    wait_until,
    word_count,
)
from tests.servers import ServerSet, server_set  # noqa: E402

LANGUAGES = ("es", "fr")
FAULT_AT = 4.0  # seconds into the talk
DRILL_LIMIT = 150.0  # seconds: a drill that hangs is reported, not waited for


@dataclass
class Stage:
    """One drill's world: its Redis, its servers, its event."""

    redis: RedisServer
    servers: ServerSet
    event_id: int
    args: argparse.Namespace

    @property
    def per_language(self) -> int:
        return max(1, self.args.listeners // len(LANGUAGES))


@dataclass
class Row:
    fault: str
    result: TalkResult | None
    recovered_at: float | None
    notes: str
    presenters: list[PresenterClient] | None = None


async def talk(stage: Stage, event, presenter_ports, listener_ports, **kwargs) -> TalkResult:
    """run_talk with the bench's listeners (Spanish and French only)."""
    listeners = kwargs.pop("listeners", None) or start_listeners(
        listener_ports, event, LANGUAGES, stage.per_language
    )
    script = kwargs.pop("script", None) or talk_script(stage.args.seconds, seed=8)
    return await run_talk(
        stage.servers,
        event,
        presenter_ports=presenter_ports,
        listener_ports=listener_ports,
        script=script,
        listeners=listeners,
        fault_at=FAULT_AT,
        **kwargs,
    )


async def no_fault(stage: Stage, event) -> Row:
    result = await talk(stage, event, [stage.servers.start()], [uvicorn(stage)])
    return Row("no fault", result, None, "")


async def redis_restart(stage: Stage, event, down: float) -> Row:
    seconds = max(stage.args.seconds, down + FAULT_AT + 8)  # talk on after Redis is back
    result = await talk(
        stage,
        event,
        [stage.servers.start()],
        [uvicorn(stage)],
        script=talk_script(seconds, seed=8),
        fault=lambda: stage.redis.restart(down),
    )
    return Row(f"redis restart {down:g}s", result, result.outage.end, link_notes(result))


async def redis_freeze(stage: Stage, event, seconds: float = 5.0) -> Row:
    result = await talk(
        stage,
        event,
        [stage.servers.start()],
        [uvicorn(stage)],
        fault=lambda: stage.redis.freeze_for(seconds),
    )
    return Row(f"redis freeze {seconds:g}s", result, result.outage.end, link_notes(result))


async def kill_listener_server(stage: Stage, event) -> Row:
    presenter_port, first, second = stage.servers.start(), uvicorn(stage), uvicorn(stage)

    async def kill() -> Outage:
        stage.servers.kill(first)
        return Outage(now(), now())

    result = await talk(stage, event, [presenter_port], [first, second], fault=kill)
    moved = sum(one.opens[-1][1] == second for one in result.listeners)
    return Row("kill -9 listeners", result, result.outage.end, f"{moved} moved to the 2nd server")


async def kill_presenter_server(stage: Stage, event) -> Row:
    first, second, listener_port = stage.servers.start(), stage.servers.start(), uvicorn(stage)
    presenter = PresenterClient([first, second], event, talk_script(stage.args.seconds, seed=8))

    async def kill() -> Outage:
        await wait_until(presenter.mid_utterance, 5)
        await asyncio.sleep(0.05)
        stage.servers.kill(first)
        return Outage(now(), now())

    result = await talk(
        stage, event, [first, second], [listener_port], presenter=presenter, fault=kill
    )
    killed = result.outage.start
    told = sum(
        any(killed <= t <= killed + 5 and m["status"] != "live" for t, m in one.statuses)
        for one in result.listeners
    )
    notes = f"non-live status within 5 s: {told}/{len(result.listeners)}"
    return Row("kill -9 presenter", result, killed, notes)


async def ten_presenters(stage: Stage, event) -> Row:
    ports = [stage.servers.start(), stage.servers.start()]
    listener_port = uvicorn(stage)
    listeners = start_listeners([listener_port], event, LANGUAGES, stage.per_language)
    await wait_ready(listeners)
    utterances = int(stage.args.seconds / 1.2)
    presenters = [  # presenter i says utterances of i + 1 words: listeners can tell them apart
        PresenterClient([ports[i % 2]], event, script_from_runs([(i + 1, 2)] * utterances))
        for i in range(10)
    ]
    race = now()
    for presenter in presenters:
        presenter.start()
    await asyncio.sleep(2.0)
    still_open = sum(p.is_open for p in presenters)
    await asyncio.gather(*(p.wait_drained(stage.args.seconds * 1.5) for p in presenters))
    result = TalkResult(stage.servers, event, presenters[0], listeners, None)
    await settle(result, 8)
    await asyncio.gather(*(p.stop() for p in presenters), *(one.stop() for one in listeners))
    result.read_stored()
    replaced = sum(code == 4008 for p in presenters for _, code in p.closes)
    sessions = max(len({word_count(c.text) for c in one.finals}) for one in listeners)
    notes = f"open after 2 s: {still_open}, closed 4008: {replaced}, sessions heard: {sessions}"
    return Row("10 presenters", result, race, notes, presenters)


async def mass_disconnect(stage: Stage, event, crowd: int = 1000) -> Row:
    presenter_port, measured_port, crowd_port = (
        stage.servers.start(),
        uvicorn(stage),
        uvicorn(stage),
    )
    listeners = start_listeners([measured_port], event, LANGUAGES, stage.per_language)
    others = start_listeners([crowd_port], event, LANGUAGES, crowd // len(LANGUAGES))
    await wait_ready(listeners + others, 90)
    presenter = PresenterClient([presenter_port], event, talk_script(stage.args.seconds, seed=8))
    cleaned: list[float] = []

    async def drop() -> Outage:
        start = now()
        await asyncio.gather(*(one.stop(abort=n % 2 == 0) for n, one in enumerate(others)))
        asyncio.create_task(watch_cleanup(stage, event, presenter, len(listeners), start, cleaned))
        return Outage(start, start)

    result = await talk(
        stage,
        event,
        [presenter_port],
        [measured_port],
        listeners=listeners,
        presenter=presenter,
        fault=drop,
    )
    clean = f"{cleaned[0] - result.outage.start:.1f} s" if cleaned else "not within 15 s"
    notes = f"{crowd} dropped; counts and Redis subscriptions back to the 20: {clean}"
    return Row(f"mass disconnect {crowd // 1000}k", result, result.outage.start, notes)


async def watch_cleanup(stage, event, presenter, remaining, start, cleaned) -> None:
    """Note when counts show only the remaining listeners and one process subscribes per stream."""

    def clean() -> bool:
        counts = presenter.counts[-1][1] if presenter.counts else {}
        subscribers = stage.redis.stream_subscribers(stream_prefix(stage.servers), event.id)
        return sum(counts.values()) == remaining and max(subscribers.values(), default=0) <= 1

    if await wait_until(clean, 15, interval=0.25):
        cleaned.append(now())


def uvicorn(stage: Stage) -> int:
    return stage.servers.start(server="uvicorn-sansio")


def link_notes(result: TalkResult) -> str:
    told = sum(one.noticed(result.outage) for one in result.listeners)
    return f"told of the outage (link down or reconnect): {told}/{len(result.listeners)}"


DRILLS: dict[str, Callable[[Stage, object], Awaitable[Row]]] = {
    "no fault": no_fault,
    "redis restart 3s": lambda stage, event: redis_restart(stage, event, 3.0),
    "redis restart 30s": lambda stage, event: redis_restart(stage, event, 30.0),
    "redis freeze 5s": redis_freeze,
    "kill -9 listeners": kill_listener_server,
    "kill -9 presenter": kill_presenter_server,
    "10 presenters": ten_presenters,
    "mass disconnect 1k": mass_disconnect,
}


async def run_drill(name: str, args: argparse.Namespace) -> list[str]:
    """One drill in its own world; return its table row."""
    workdir = Path(tempfile.mkdtemp(prefix="faults-bench-"))
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    # Every client shares one address: lift the per-address cap (captions/limits.py).
    servers = server_set(
        workdir, REDIS_URL=redis_server.url, LOG_LEVEL="WARNING", LISTENERS_PER_ADDRESS="1000000"
    )
    try:
        event = create_event(servers, LANGUAGES)
        stage = Stage(redis_server, servers, event.id, args)
        row = await asyncio.wait_for(DRILLS[name](stage, event), DRILL_LIMIT)
        return format_row(row, errors(servers))
    except TimeoutError:
        return [name, *["-"] * 8, f"did not finish within {DRILL_LIMIT:g} s ({workdir})"]
    finally:
        redis_server.thaw()
        servers.stop_all()
        redis_server.stop()


def errors(servers: ServerSet) -> int:
    """ERROR lines in the drill's server logs (Django's and uvicorn's formats)."""
    return sum(
        len(re.findall(r"(?m)^(?:\S+ \S+ )?ERROR\b", log.read_text(errors="replace")))
        for log in servers.workdir.glob("daphne-*.log")
    )


def format_row(row: Row, error_count: int) -> list[str]:
    result = row.result
    comparisons = result.comparisons()
    listened = [lang for lang in LANGUAGES if result.stored.get(lang) is not None]
    produced = max(len(result.stored[lang]) for lang in listened)
    received = min(len(one.final_texts()) for one in result.listeners)
    presenters = row.presenters or [result.presenter]
    closes = [code for p in presenters for _, code in p.closes]
    spoken = sum(1 for p in presenters for t in p.utterance_ends() if t is not None)
    recovery = "-"
    if row.recovered_at is not None:
        wait = result.first_final_after(row.recovered_at)
        recovery = "never" if wait is None else f"{wait:.1f}"
    notes = [row.notes] if row.notes else []
    if closes and row.presenters is None:
        notes.append("close codes " + ",".join(str(code) for code in sorted(set(closes))))
    notes.append(f"errors {error_count}")
    return [
        row.fault,
        str(spoken),
        str(produced),
        str(received),
        str(max(len(c.missing) for c in comparisons)),
        str(max(len(c.duplicates) for c in comparisons)),
        str(max(len(c.dangling) for c in comparisons)),
        str(len(closes)),
        recovery,
        "; ".join(notes),
    ]


HEADER = ["fault", "spoken", "in DB", "received", "gaps", "dups", "dangling", "p.closes"]
HEADER += ["recovery", "notes"]


def print_row(cells: list[str]) -> None:
    widths = [18, 6, 5, 8, 4, 4, 8, 8, 8]
    print(
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)), *cells[9:], flush=True
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=20, help="measured listeners")
    parser.add_argument("--seconds", type=float, default=24.0, help="length of the talk")
    parser.add_argument("--only", default="", help="comma-separated drill names")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(DRILLS)
    started = time.monotonic()
    print_row(HEADER)
    for name in names:
        print_row(await run_drill(name, args))
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())
