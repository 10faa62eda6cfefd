"""Caption delay: stream times to arrival times, percentiles, stamps, and the listener's clock."""

from __future__ import annotations

import json
import time

import pytest

from captions import delay, delay_report
from captions.engines import get_engine
from captions.fanout import CAPTION, Envelope, stream_name
from tests.conftest import listener
from tests.test_pipeline import join, receive_until, speak, start_presenter

pytestmark = pytest.mark.timeout(30)


def test_stream_clock_maps_a_stream_time_to_the_arrival_of_the_frame_holding_it():
    """Audio up to a stream time arrived with the first frame that ends at or after it."""
    clock = delay.StreamClock()
    for n in range(5):
        clock.add(0.1, 1000.0 + n)
    assert clock.arrival(0.1) == 1000.0
    assert clock.arrival(0.25) == 1002.0
    assert clock.arrival(0.5) == 1004.0
    assert clock.arrival(0.6) == 1004.0  # rounded up a little by the engine
    assert clock.arrival(2.0) is None  # audio that never came


def test_stream_clock_forgets_the_oldest_frames_past_its_bound():
    """Only the last ``keep`` frames are remembered; older stream times are unknown."""
    clock = delay.StreamClock(keep=3)
    for n in range(5):
        clock.add(0.1, float(n))
    assert clock.arrival(0.15) is None
    assert clock.arrival(0.35) == 3.0


def test_percentiles_interpolate_within_a_bucket():
    """p50 and p95 of bucketed delays fall inside the bucket of the true value."""
    counts = {delay.bucket(1.53): 10}
    assert 1.5 <= delay.percentile(counts, 0.5) <= 1.6
    mixed = {delay.bucket(0.8): 90, delay.bucket(4.2): 10}
    assert delay.percentile(mixed, 0.5) == pytest.approx(0.75, abs=0.05)
    assert 4.1 <= delay.percentile(mixed, 0.95) <= 4.3
    assert delay.percentile({}, 0.5) is None
    assert delay.percentile({delay.OVER: 1}, 0.5) == delay.BOUNDS[-1]


def test_summaries_merge_every_process_hash_and_skip_junk_fields():
    """Counts from several hashes add up per language; malformed fields are ignored."""
    first = {delay.field("es", delay.bucket(1.0)): "3", "junk": "1", "es:999": "4"}
    second = {delay.field("es", delay.bucket(1.0)): "1", delay.field("fr", delay.bucket(2.5)): "2"}
    summary = delay.summarize(delay.merge_fields([first, second]))
    assert summary["es"]["count"] == 4 and 0.9 <= summary["es"]["p50"] <= 1.0
    assert summary["fr"] == {"p50": pytest.approx(2.45, abs=0.06), "p95": 2.5, "count": 2}


async def test_a_delivered_final_is_stamped_with_its_send_time_and_counted():
    """A final with a ``heard`` stamp leaves the hub with ``sent`` added; other messages pass."""
    heard = int(time.time() * 1000) - 1500
    text = json.dumps({"type": "caption", "final": True, "text": "hola", "heard": heard})
    stream = stream_name(42, "es", with_source=True)
    assert delay_report.stream_parts(stream) == (42, "es")
    stamped = delay_report.delivered(stream, Envelope(CAPTION, 3, True, text), listeners=2)
    message = json.loads(stamped.text)
    assert message["heard"] == heard and 1400 <= message["sent"] - heard <= 2500
    partial = Envelope(CAPTION, 4, False, '{"type":"caption","final":false}')
    assert delay_report.delivered(stream, partial, listeners=2) is partial
    delay_report._pending.clear()


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"clock","t":"1"}',
        '{"type":"clock","t":true}',
        '{"type":"clock","t":-1}',
        '{"type":"clock","t":1e300}',
        '{"type":"clock","t":NaN}',
        '{"type":"clock","t":1,"x":2}',
        '{"type":"clock"}',
        '{"type":"other","t":1}',
        "[1]",
        "not json",
        '{"type":"clock","t":1}' + " " * 200,
        "",
        None,
    ],
)
def test_only_a_well_formed_clock_ping_is_answered(text):
    """A clock ping needs a finite, non-negative number ``t`` and nothing else, in 128 chars."""
    assert delay.clock_reply(text, 5) is None


@pytest.mark.django_db(transaction=True)
async def test_a_listener_clock_ping_is_answered_with_the_server_time(event):
    """The audience socket echoes the client's time with the server's, for the clock offset."""
    comm, _ = await join(event.slug, "es")
    before = int(time.time() * 1000)
    await comm.send_to(text_data=json.dumps({"type": "clock", "t": 123.5}))
    reply = await comm.receive_json_from(timeout=5)
    assert reply["type"] == "clock" and reply["t"] == 123.5
    assert before <= reply["server"] <= int(time.time() * 1000)
    await comm.send_to(text_data='{"type":"clock","t":"soon"}')
    assert (await comm.receive_json_from(timeout=5))["code"] == "read_only"
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_refused_listener_gets_no_clock_answer(event):
    """A listener refused at connect (unknown language) is closed before any ping counts."""
    comm = listener(event.slug, "de")
    await comm.connect()
    message = await comm.receive_json_from(timeout=5)
    assert message["code"] == "language_not_offered"
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_finals_carry_their_delay_and_the_presenter_sees_it_per_language(event):
    """A final held 0.5 s by the engine reaches the listener stamped ~0.5 s after its audio,
    and the presenter's next delay report shows it for that language."""
    get_engine().final_hold = 0.5
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    spoken = time.time() * 1000
    await speak(speaker, 2)
    messages = await receive_until(spanish, lambda m: m.get("type") == "caption" and m["final"])
    final = messages[-1]
    partials = [m for m in messages if m["type"] == "caption" and not m["final"]]
    assert partials and all("heard" not in m for m in partials)  # partials: no stamps
    assert final["heard"] >= spoken and 0.45 <= (final["sent"] - final["heard"]) / 1000 < 1.5
    report = await receive_until(
        speaker, lambda m: m["type"] == "delay" and "es" in m["languages"], limit=100
    )
    figures = report[-1]["languages"]["es"]
    assert report[-1]["window"] == 60 and figures["count"] >= 1
    assert 0.4 <= figures["p50"] <= 1.5 and figures["p95"] >= figures["p50"]
    await spanish.disconnect()
    await speaker.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_control_room_gets_the_same_delay_figures_as_the_presenter(event):
    """The console's delay panel is fed the last minute's figures once a final is delivered."""
    from tests.test_control_room import moderator

    room, _ = await moderator(event)
    spanish, _ = await join(event.slug, "es")
    speaker = await start_presenter(event)
    await speak(speaker, 1)
    await receive_until(spanish, lambda m: m.get("type") == "caption" and m["final"])
    report = await receive_until(
        room, lambda m: m["type"] == "delay" and "es" in m["languages"], limit=100
    )
    assert report[-1]["languages"]["es"]["count"] >= 1 and report[-1]["warn"] == 3.0
    for comm in (room, spanish, speaker):
        await comm.disconnect()
