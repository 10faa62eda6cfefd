"""Captions keep flowing through the faults of a live event (issue 8).

Real processes throughout: a private Redis (tests/faultkit.py) that the tests restart, freeze
and kill; Daphne for the presenter and uvicorn (websockets-sansio) for listeners, as deployed;
clients that behave like the presenter and audience pages. Every test ends by comparing each
listener's finals with the database's: nothing missing, nothing extra, no duplicate, no
partial left on screen.
"""

from __future__ import annotations

import asyncio
from pprint import pformat

import pytest

from tests.faultkit import (
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
from tests.servers import server_set

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def servers(tmp_path, redis_server):
    servers = server_set(tmp_path, REDIS_URL=redis_server.url)
    yield servers
    redis_server.thaw()
    servers.stop_all()


def listener_problems(result: TalkResult) -> dict:
    """Every listener against the database, plus seqs that stand for two utterances."""
    failures: dict = {}
    if problems := result.problems():
        failures["listeners differ from the database"] = problems
    if reused := result.reused_seqs():
        failures["seqs reused for another utterance"] = reused
    return failures


def redis_outage_problems(result: TalkResult) -> dict:
    """What a Redis outage may not cost: see the two Redis tests."""
    failures = listener_problems(result)
    if result.presenter.closes:
        failures["presenter connection closed"] = result.presenter.closes
    if late := result.late_finals(allowance=5.0):
        failures["finals later than 5 s after Redis's return (-1: DB lacks utterances)"] = late
    unaware = [one.name for one in result.listeners if not one.noticed(result.outage)]
    if unaware:
        failures["listeners told nothing (no link down, no reconnect) during the outage"] = unaware
    still_down = [one.name for one in result.listeners if one.links and one.links[-1][1] != "up"]
    if still_down:
        failures["listeners whose last link message is not 'up'"] = still_down
    return failures


def drill_failure(servers, redis_server, result: TalkResult, failures: dict) -> str:
    """A Redis drill's failure message: what failed, every server's warnings, each client's
    timeline, Redis's subscribers now (the freeze drill has failed in some runs, rarely)."""
    problems = pformat(failures, width=100, compact=True)
    try:
        subscribers = redis_server.stream_subscribers(stream_prefix(servers), result.event.id)
    except Exception as exc:  # a failure message must not fail
        subscribers = repr(exc)
    return (
        f"{problems}\n{server_warnings(servers)}\n{result.timeline()}\n"
        f"subscribers per stream now: {subscribers}"
    )


def server_warnings(servers) -> str:
    """Every server's warnings and errors, for the failure message of a flaky drill."""
    lines = []
    for _, port in servers.processes:
        lines += [
            f"{port}: {line}"
            for line in servers.log(port).splitlines()
            if " WARNING " in line or " ERROR " in line or line.startswith("Traceback")
        ]
    return "\n".join(lines[-40:])


async def redis_drill(servers, fault, seconds: float) -> TalkResult:
    event = create_event(servers)
    presenter_port = servers.start()
    listener_port = servers.start(server="uvicorn-sansio")
    return await run_talk(
        servers,
        event,
        presenter_ports=[presenter_port],
        listener_ports=[listener_port],
        script=talk_script(seconds, seed=8),
        per_language=2,
        fault=fault,
        fault_at=4.0,
    )


async def test_redis_restarting_empty_mid_talk_costs_no_final_and_no_presenter_connection(
    servers, redis_server
):
    """Redis down 3 s, back empty: every final reaches every listener within 5 s of its return."""
    result = await redis_drill(servers, lambda: redis_server.restart(3.0), seconds=14)
    failures = redis_outage_problems(result)
    assert not failures, drill_failure(servers, redis_server, result, failures)


async def test_redis_frozen_for_five_seconds_costs_no_final_and_no_presenter_connection(
    servers, redis_server
):
    """Redis unreachable (SIGSTOP) 5 s: every final reaches every listener within 5 s of thaw."""
    result = await redis_drill(servers, lambda: redis_server.freeze_for(5.0), seconds=16)
    failures = redis_outage_problems(result)
    assert not failures, drill_failure(servers, redis_server, result, failures)


async def test_listeners_of_a_killed_server_resume_on_another_without_gap_or_duplicate(servers):
    """kill -9 of the listeners' process: they reconnect to a second one and miss nothing."""
    event = create_event(servers)
    presenter_port = servers.start()
    first = servers.start(server="uvicorn-sansio")
    second = servers.start(server="uvicorn-sansio")

    async def kill_listener_server() -> Outage:
        servers.kill(first)
        return Outage(now(), now())

    result = await run_talk(
        servers,
        event,
        presenter_ports=[presenter_port],
        listener_ports=[first, second],
        script=talk_script(12, seed=3),
        per_language=2,
        fault=kill_listener_server,
        fault_at=4.0,
    )
    failures = listener_problems(result)
    moved = [one.name for one in result.listeners if one.opens[-1][1] != second]
    if moved:
        failures["listeners not on the second server"] = moved
    if result.first_final_after(result.outage.end) is None:
        failures["no final after the kill"] = True
    assert not failures, pformat(failures, width=100, compact=True)


async def test_a_killed_presenter_server_pauses_listeners_withdraws_the_open_partial_and_resumes(
    servers,
):
    """kill -9 of the presenter's process mid-utterance: listeners hear of it, nothing dangles."""
    event = create_event(servers)
    first, second = servers.start(), servers.start()
    listener_port = servers.start(server="uvicorn-sansio")
    presenter = PresenterClient([first, second], event, talk_script(14, seed=5))

    async def kill_mid_utterance() -> Outage:
        assert await wait_until(presenter.mid_utterance, 5), "never mid-utterance"
        await asyncio.sleep(0.05)  # the partial of the frame just sent reaches listeners
        servers.kill(first)
        return Outage(now(), now())

    result = await run_talk(
        servers,
        event,
        presenter_ports=[first, second],
        listener_ports=[listener_port],
        script=presenter.script,
        per_language=2,
        fault=kill_mid_utterance,
        fault_at=3.0,
        presenter=presenter,
    )
    killed = result.outage.start
    failures = listener_problems(result)
    if [code for _, code in presenter.closes] != [1006]:
        failures["presenter closes (expected one abnormal close)"] = presenter.closes
    if presenter.opens[-1][1] != second:
        failures["presenter did not move to the second server"] = presenter.opens
    if not any(t > killed and m["status"] == "live" for t, m in presenter.statuses):
        failures["presenter never live again"] = presenter.statuses[-3:]
    unaware = [
        one.name
        for one in result.listeners
        if not any(killed <= t <= killed + 5 and m["status"] != "live" for t, m in one.statuses)
    ]
    if unaware:
        failures["listeners without a non-live status within 5 s of the kill"] = unaware
    if result.first_final_after(killed) is None:
        failures["no final reached every listener after the kill"] = True
    assert not failures, pformat(failures, width=100, compact=True)


async def test_ten_presenters_connecting_at_once_leave_one_live_and_one_stream_of_captions(servers):
    """10 simultaneous presenter connects, 5 times: one stays, nine get 4008, one session speaks."""
    event = create_event(servers)
    presenter_ports = [servers.start(), servers.start()]
    listener_port = servers.start(server="uvicorn-sansio")
    listeners = start_listeners([listener_port], event, event.languages, per_language=1)
    await wait_ready(listeners)
    rounds, failures = [], {}
    for _ in range(5):
        rounds.append(await presenter_race(presenter_ports, event))
    ends = [r["start"] for r in rounds[1:]] + [now()]
    for number, (race, end) in enumerate(zip(rounds, ends, strict=True)):
        if len(race["open"]) != 1 or len(race["replaced"]) != 9:
            failures[f"round {number}: open / closed 4008"] = (race["open"], race["replaced"])
        heard = {
            one.name: sorted(
                {word_count(c.text) for c in one.finals if race["start"] <= c.at < end}
            )
            for one in listeners
        }
        if any(counts != race["words"] for counts in heard.values()):
            failures[f"round {number}: word counts heard (one per session) / survivor's"] = (
                heard,
                race["words"],
            )
    await asyncio.gather(*(one.stop() for one in listeners))
    result = TalkResult(servers, event, PresenterClient([], event), listeners, None)
    result.read_stored()
    failures |= listener_problems(result)
    assert not failures, pformat(failures, width=100, compact=True)


async def presenter_race(ports: list[int], event) -> dict:
    """Ten presenters connect at once; presenter i speaks utterances of i + 1 words."""
    presenters = [
        PresenterClient([ports[i % 2]], event, script_from_runs([(i + 1, 2)] * 30), name=f"p{i}")
        for i in range(10)
    ]
    start = now()
    for presenter in presenters:
        presenter.start()
    await asyncio.sleep(2.0)
    survivors = [p for p in presenters if p.is_open]
    replaced = [p.name for p in presenters if any(code == 4008 for _, code in p.closes)]
    await asyncio.sleep(1.5)  # the survivor keeps talking
    for survivor in survivors:  # stop between utterances, so no final is cut short
        await wait_until(lambda s=survivor: s.sent_at and not s.script[max(s.sent_at)].voiced, 3)
    await asyncio.gather(*(p.stop() for p in presenters))
    await asyncio.sleep(1.5)  # the last finals reach listeners
    words = sorted({int(p.name[1:]) + 1 for p in survivors})
    return {
        "start": start,
        "open": [p.name for p in survivors],
        "replaced": replaced,
        "words": words,
    }


async def test_a_mass_disconnect_leaves_no_listener_count_and_no_subscription_behind(
    servers, redis_server
):
    """300 listeners drop at once (half without a close handshake): counts and Redis go to zero."""
    event = create_event(servers)
    presenter_port = servers.start()
    listener_port = servers.start(server="uvicorn-sansio")
    listeners = start_listeners([listener_port], event, ("es", "fr"), per_language=150)
    await wait_ready(listeners)
    presenter = PresenterClient([presenter_port], event, talk_script(3, seed=1))
    presenter.start()
    counted = await wait_until(
        lambda: presenter.counts and sum(presenter.counts[-1][1].values()) == 300, 15
    )
    await presenter.wait_drained(30)
    result = TalkResult(servers, event, presenter, listeners, None)
    await settle(result, 8)
    dropped_at = now()
    await asyncio.gather(*(one.stop(abort=n % 2 == 0) for n, one in enumerate(listeners)))
    prefix = stream_prefix(servers)

    def all_gone() -> bool:
        told_zero = bool(presenter.counts) and sum(presenter.counts[-1][1].values()) == 0
        return told_zero and not redis_server.stream_subscribers(prefix, event.id)

    cleaned = await wait_until(all_gone, 8, interval=0.25)
    elapsed = now() - dropped_at
    await presenter.stop()
    result.read_stored()
    failures = listener_problems(result)
    if not counted:
        failures["presenter never counted 300 listeners"] = presenter.counts[-1:]
    if not cleaned:
        failures["8 s after the drop: counts told / stream subscribers"] = (
            presenter.counts[-1],
            redis_server.stream_subscribers(prefix, event.id),
        )
    if not result.stored["es"]:
        failures["no final stored"] = True
    assert not failures, pformat(failures, width=100, compact=True) + f" (checked {elapsed:.1f} s)"
