"""The pages in a real browser: Debian's Chromium, driven by Playwright, against real Daphne.

The presenter's microphone is a WAV file played by Chromium's fake capture device. With the
scripted engine (tests/fake_engine.py) tones become words; set CAPTIONS_BROWSER_WAV to a
recording of real speech, CAPTIONS_BROWSER_ENGINE to an engine (e.g. ``local``) and
CAPTIONS_BROWSER_EXPECT to words expected in Spanish to run the speech variant.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests import browser
from tests.fake_engine import silence, tone
from tests.servers import ServerSet, server_set

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="needs Debian's chromium"),
]

SPEECH_WAV = os.environ.get("CAPTIONS_BROWSER_WAV", "")
REAL_SPEECH = "Good morning everyone. Welcome to our conference about open source software."


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> ServerSet:
    servers = server_set(tmp_path_factory.mktemp("browser"))
    servers.port = servers.start()
    yield servers
    servers.stop_all()


def base_url(servers: ServerSet) -> str:
    return f"http://127.0.0.1:{servers.port}"


def speak_and_read(chromium, base: str, slug: str, key: str, language: str, expected: str):
    """Open a listener in ``language``, then a presenter whose microphone plays the browser's WAV.

    Returns (presenter page, audience page) once the audience shows a final containing
    ``expected``.
    """
    listener = chromium.new_context(locale=language, viewport=browser.PHONE)
    audience = listener.new_page()
    audience.goto(f"{base}/e/{slug}/?lang={language}")
    expect(audience.locator("#state")).to_have_attribute("data-state", "waiting")
    speaker = chromium.new_context(viewport=browser.DESKTOP, permissions=["microphone"])
    presenter = speaker.new_page()
    presenter.goto(f"{base}/e/{slug}/present/#key={key}")
    expect(presenter.locator("#connection")).to_have_attribute("data-state", "connected")
    presenter.locator("#mic").click()
    # The embedded engine loads Whisper on its first session: seconds on a busy machine.
    expect(presenter.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
    final = audience.locator("#captions .caption.final").filter(has_text=expected)
    expect(final.first).to_be_visible(timeout=60_000)
    return presenter, audience


def test_presenter_microphone_reaches_a_spanish_listener(chromium, servers):
    """Tones from the presenter's fake microphone arrive as Spanish captions on a phone."""
    slug, key = browser.create_event(servers)
    presenter, audience = speak_and_read(chromium, base_url(servers), slug, key, "es", "[es] alpha")
    assert audience.locator("html").get_attribute("lang") == "es"
    expect(audience.locator("#state")).to_have_attribute("data-state", "live")
    expect(presenter.locator("#preview .line.final .original").first).to_contain_text("alpha")
    expect(presenter.locator("#preview .line.final .translated").first).to_contain_text(
        "[es] alpha"
    )
    expect(presenter.locator('#counts tr[data-lang="es"] .n')).to_have_text("1", timeout=10_000)
    # Two utterances in the WAV: the second arrives too, each once.
    expect(audience.locator("#captions .caption.final")).to_have_count(2, timeout=20_000)
    texts = browser.final_texts(audience)
    assert texts[0].startswith("[es] alpha")
    assert texts[1].startswith("[es] ") and len(set(browser.final_seqs(audience))) == 2
    expect(audience.locator("#announcer")).to_have_text(texts[-1])

    display = audience.context.new_page()
    display.set_viewport_size({"width": 1280, "height": 720})
    display.goto(f"{base_url(servers)}/e/{slug}/display/es/")
    expect(display.locator("#display-text")).to_contain_text("[es] alpha")
    browser.screenshot(presenter, "presenter-desktop")
    browser.screenshot(audience, "audience-phone")
    browser.screenshot(display, "display-projector")
    display.goto(f"{base_url(servers)}/e/{slug}/display/es/?transparent=1")
    expect(display.locator("#display-text")).to_contain_text("[es] alpha")
    browser.screenshot(display, "display-transparent")

    presenter.locator("#show-qr").click()
    expect(presenter.locator("#qr-overlay img")).to_be_visible()
    browser.screenshot(presenter, "presenter-qr-fullscreen")
    presenter.locator("#hide-qr").click()

    presenter.once("dialog", lambda dialog: dialog.accept())  # "End the event for everyone?"
    presenter.locator("#end").click()
    expect(presenter.locator("#status")).to_have_attribute("data-state", "ended")
    expect(audience.locator("#state")).to_have_attribute("data-state", "ended")
    expect(presenter.locator("#mic")).to_be_disabled()
    presenter.context.close()
    audience.context.close()


@pytest.mark.slow
def test_real_speech_reaches_a_spanish_listener(playwright, tmp_path):
    """Generated English speech through the embedded engine arrives in Spanish on a phone.

    CAPTIONS_BROWSER_WAV, _ENGINE and _EXPECT run another recording, engine or expectation.
    """
    from tests.whisper_speech import speech_wav

    engine = os.environ.get("CAPTIONS_BROWSER_ENGINE", "local")
    wav = Path(SPEECH_WAV) if SPEECH_WAV else speech_wav(REAL_SPEECH, pad=(0.3, 2.0))
    expected = os.environ.get("CAPTIONS_BROWSER_EXPECT", "conferencia")
    servers = server_set(tmp_path, CAPTION_ENGINE=engine)
    servers.port = servers.start()
    chromium = browser.launch(playwright, wav)
    try:
        slug, key = browser.create_event(servers, targets=("es",))
        presenter, audience = speak_and_read(chromium, base_url(servers), slug, key, "es", expected)
        browser.screenshot(audience, "audience-real-speech")
    finally:
        chromium.close()
        servers.stop_all()


@pytest.mark.slow
def test_a_recorded_spanish_voice_reaches_a_spanish_phone_within_a_word_error_bound(
    playwright, tmp_path
):
    """A human recording from the corpus as the microphone; the phone's finals match it."""
    import numpy as np

    from tests.corpus import audio, load_manifest, word_error_rate

    item = next(i for i in load_manifest() if i.id == "es-css10-19demarzo")
    pcm = (np.clip(audio(item), -1.0, 1.0) * 32767).astype("<i2").tobytes()
    second = bytes(2 * 16000)  # of silence: before the voice, and after it for the last pause
    wav = browser.write_wav(tmp_path / "spanish.wav", second + pcm + second * 3)
    servers = server_set(tmp_path, CAPTION_ENGINE="local")
    servers.port = servers.start()
    chromium = browser.launch(playwright, wav)
    try:
        slug, key = browser.create_event(servers, source="es", targets=("en",))
        _, phone = speak_and_read(chromium, base_url(servers), slug, key, "es", "patriotismo")
        heard = " ".join(browser.final_texts(phone))
        assert word_error_rate(item.reference, heard) <= 0.2, heard
    finally:
        chromium.close()
        servers.stop_all()


def say(socket, words: int) -> None:
    """One utterance of ``words`` words to the scripted engine."""
    for _ in range(words):
        socket.send(tone(0.1))
    socket.send(silence(0.1))


@contextlib.contextmanager
def presenter_socket(servers: ServerSet, slug: str, key: str):
    """A live presenter connection from Python, for scripted utterances."""
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{servers.port}/ws/events/{slug}/presenter/"
    subprotocols = ["captions.v1", f"key.{key}"]  # the key never goes in a URL
    with connect(
        url, origin=base_url(servers), subprotocols=subprotocols, open_timeout=10
    ) as socket:
        socket.send(json.dumps({"type": "start"}))
        while json.loads(socket.recv(timeout=10)) != {"type": "status", "status": "live"}:
            pass
        yield socket


WORKLET_PROBE = """
async ([rate, frequency]) => {
  const context = new OfflineAudioContext(1, rate, rate);  // one second
  await context.audioWorklet.addModule("/static/js/pcm-worklet.js");
  const options = { numberOfInputs: 1, numberOfOutputs: 0 };
  const node = new AudioWorkletNode(context, "pcm-worklet", options);
  const frames = [];
  node.port.onmessage = (event) => {
    if (event.data.type === "frame") frames.push(new Int16Array(event.data.pcm));
  };
  const tone = new OscillatorNode(context, { frequency });
  const gain = new GainNode(context, { gain: 0.5 });
  tone.connect(gain).connect(node);
  tone.start();
  await context.startRendering();
  await new Promise((resolve) => setTimeout(resolve, 200));  // last port messages
  const samples = frames.slice(1).flatMap((frame) => Array.from(frame));
  const rms = Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length) / 32768;
  return { frames: frames.length, bytes: frames[0].byteLength, rms };
}
"""


@pytest.mark.parametrize(
    ("rate", "frequency", "low", "high"),
    [
        (48000, 1000, 0.34, 0.36),  # in the speech band: kept (a 0.5 sine has RMS 0.354)
        (48000, 12000, 0, 0.01),  # above 8 kHz: filtered out, not folded back to 4 kHz
        (44100, 1000, 0.34, 0.36),
    ],
)
def test_worklet_resamples_to_16_khz_without_aliasing(
    chromium, servers, rate, frequency, low, high
):
    """The AudioWorklet turns any context rate into 100 ms frames of band-limited 16 kHz PCM16."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{base_url(servers)}/healthz")
    result = page.evaluate(WORKLET_PROBE, [rate, frequency])
    context.close()
    assert result["bytes"] == 3200
    assert result["frames"] in (9, 10)  # one second, less the filter's look-ahead
    assert low <= result["rms"] <= high


def test_audience_recovers_after_a_server_restart_without_gaps_or_duplicates(chromium, servers):
    """A listener whose server restarts reconnects and gets what it missed, each caption once."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.DESKTOP)
    audience = context.new_page()
    audience.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
    finals = audience.locator("#captions .caption.final")
    with presenter_socket(servers, slug, key) as socket:
        say(socket, 2)
        expect(finals).to_have_count(1)

    servers.stop(servers.port)
    expect(audience.locator("#state")).to_have_attribute("data-state", "reconnecting")
    servers.start(servers.port)
    with presenter_socket(servers, slug, key) as socket:
        say(socket, 3)  # likely spoken while the listener is still away: comes as history
        expect(audience.locator("#state")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(finals).to_have_count(2)
        say(socket, 4)  # live after the reconnection
        expect(finals).to_have_count(3)

        assert browser.final_texts(audience) == [
            "[es] alpha bravo",
            "[es] alpha bravo charlie",
            "[es] delta echo foxtrot golf",  # the session's words continue
        ]
        assert len(set(browser.final_seqs(audience))) == 3

        # The original text on request: history comes again with it, without duplicates.
        audience.locator("#original").check()
        expect(audience.locator("#captions .caption .source").first).to_have_text("alpha bravo")
        expect(finals).to_have_count(3)

        # A partial is shown differently and replaced in place by its final.
        for _ in range(2):
            socket.send(tone(0.1))
        partial = audience.locator("#captions .caption.partial")
        expect(partial).to_have_text(re.compile(r"\[es\] hotel alpha"))
        seq = partial.get_attribute("data-seq")
        style = "el => getComputedStyle(el.querySelector('.text')).fontStyle"
        assert partial.evaluate(style) == "italic"
        assert finals.first.evaluate(style) == "normal"
        browser.screenshot(audience, "audience-desktop")
        socket.send(silence(0.1))
        expect(finals).to_have_count(4)
        expect(partial).to_have_count(0)
        assert browser.final_seqs(audience)[-1] == seq
    context.close()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_audience_shows_reconnecting_while_its_server_cannot_reach_redis(chromium, tmp_path):
    """A listener whose server loses Redis shows "reconnecting" within 5 s over its open socket,
    and the event's state again once Redis is back."""
    from tests.faultkit import RedisServer

    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    servers = server_set(tmp_path, REDIS_URL=redis_server.url)
    try:
        servers.port = servers.start()
        slug, _ = browser.create_event(servers)
        context = chromium.new_context(viewport=browser.PHONE)
        page = context.new_page()
        sockets = []
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
        state = page.locator("#state")
        expect(state).to_have_attribute("data-state", "waiting")

        redis_server.stop()
        expect(state).to_have_attribute("data-state", "reconnecting", timeout=5_000)
        browser.screenshot(page, "audience-link-down")
        redis_server.start()
        expect(state).to_have_attribute("data-state", "waiting", timeout=30_000)
        assert len(sockets) == 1  # told over the open socket (link down, up), never dropped
        context.close()
    finally:
        redis_server.start()  # if stopped: stop_all removes the set's keys from it
        servers.stop_all()
        redis_server.stop()


def wait_for_speech_listener(servers: ServerSet, slug: str, language: str) -> None:
    """Wait until the shared listener counts show someone listening in ``language``."""
    import redis

    out = servers.shell(
        f"from captions.models import Event\nprint(Event.objects.get(slug={slug!r}).pk)"
    )
    event_id = int(out.strip().splitlines()[-1])
    # The servers' keys (tests/servers.py), summed as captions.presence.listener_counts does.
    pattern = f"test-captions-{servers.env['CAPTIONS_TEST_RUN']}:listeners:{event_id}:*"
    client = redis.Redis.from_url(servers.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    deadline = time.monotonic() + 15
    field = f"speech:{language}"
    while not any(client.hget(name, field) for name in client.scan_iter(match=pattern)):
        assert time.monotonic() < deadline, "the listener never counted as listening"
        time.sleep(0.2)


def test_listening_plays_the_engines_speech_clips_in_order(chromium, servers):
    """With listening on, each final's synthesized speech is fetched and played in turn."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.PHONE)
    audience = context.new_page()
    audience.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
    audience.evaluate(
        "() => { window.played = []; document.getElementById('speech')"
        ".addEventListener('loadstart', (e) => window.played.push(e.target.src)); }"
    )
    with audience.expect_websocket(lambda socket: "speech=1" in socket.url):
        audience.locator("#listen").check()  # reconnects asking for speech
    wait_for_speech_listener(servers, slug, "es")
    with presenter_socket(servers, slug, key) as socket:
        say(socket, 1)
        say(socket, 2)
        expect(audience.locator("#captions .caption.final")).to_have_count(2)
    seqs = browser.final_seqs(audience)
    expected = [f"{base_url(servers)}/e/{slug}/speech/es/{seq}" for seq in seqs]
    audience.wait_for_function(
        "n => window.played.filter((src) => src.includes('/speech/')).length >= n", arg=2
    )
    played = [src for src in audience.evaluate("window.played") if "/speech/" in src]
    assert played == expected
    context.close()


def test_presenter_buffers_audio_while_the_server_is_away(chromium, servers):
    """Speech captured while the presenter's connection is down is sent after it reconnects."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.DESKTOP, permissions=["microphone"])
    presenter = context.new_page()
    presenter.goto(f"{base_url(servers)}/e/{slug}/present/#key={key}")
    expect(presenter.locator("#connection")).to_have_attribute("data-state", "connected")
    servers.stop(servers.port)
    expect(presenter.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    presenter.locator("#mic").click()  # the fake microphone plays its WAV once, from now
    expect(presenter.locator("#buffered")).to_be_visible(timeout=10_000)
    time.sleep(3)  # the whole WAV is spoken into the buffer
    servers.start(servers.port)
    expect(presenter.locator("#status")).to_have_attribute("data-state", "live", timeout=30_000)
    preview = presenter.locator("#preview .line.final")
    expect(preview).to_have_count(2, timeout=20_000)
    expect(preview.first.locator(".original")).to_contain_text("alpha")
    expect(presenter.locator("#buffered")).to_be_hidden()
    context.close()


def test_presenter_page_refuses_a_wrong_key_without_retrying(chromium, servers):
    """A wrong key is a clear message from the socket (4001, no reconnect loop)."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.DESKTOP)
    page = context.new_page()
    response = page.goto(f"{base_url(servers)}/e/{slug}/present/#key=wrong")
    assert response.status == 200  # the page holds no secret; its socket is refused
    expect(page.locator("#alert")).to_contain_text("not valid")
    browser.screenshot(page, "presenter-forbidden")
    page = context.new_page()

    # The organizer rotates the key after the page was served, before its script connects.
    def rotate_key_then_load(route):
        servers.shell(
            "from captions.models import Event\n"
            f"Event.objects.get(slug={slug!r}).rotate_presenter_key()"
        )
        route.continue_()

    page.route("**/static/js/presenter.js", rotate_key_then_load)
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    page.goto(f"{base_url(servers)}/e/{slug}/present/#key={key}")
    expect(page.locator("#alert")).to_contain_text("not valid", timeout=15_000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "closed")
    expect(page.locator("#mic")).to_be_disabled()
    time.sleep(3)  # a reconnect loop would have tried again by now
    assert len(sockets) == 1
    browser.screenshot(page, "presenter-wrong-key")
    context.close()


def test_presenter_page_explains_a_refused_microphone(chromium, servers):
    """When the browser refuses the microphone the presenter is told how to allow it."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.DESKTOP)
    context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"
    )
    page = context.new_page()
    page.goto(f"{base_url(servers)}/e/{slug}/present/#key={key}")
    page.locator("#mic").click()
    expect(page.locator("#alert")).to_contain_text("microphone was refused")
    expect(page.locator("#mic")).to_have_text("Start microphone")
    expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    context.close()


def test_presenter_page_shows_engine_overload_and_recovery(chromium, servers):
    """The engine's overload notice is shown to the presenter and cleared when it recovers."""
    slug, key = browser.create_event(servers)
    context = chromium.new_context(viewport=browser.DESKTOP)
    page = context.new_page()
    sockets = []

    def relay(socket_route):
        socket_route.connect_to_server()  # frames pass through both ways
        sockets.append(socket_route)

    page.route_web_socket(re.compile(r".*/presenter/.*"), relay)
    page.goto(f"{base_url(servers)}/e/{slug}/present/#key={key}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    sockets[0].send(json.dumps({"type": "engine", "state": "overloaded", "detail": "2 s behind"}))
    expect(page.locator("#alert")).to_contain_text("overloaded")
    sockets[0].send(json.dumps({"type": "engine", "state": "recovered", "detail": ""}))
    expect(page.locator("#alert")).to_be_hidden()
    context.close()


def test_caption_text_with_html_is_shown_as_text(chromium, servers):
    """Markup in a stored caption is displayed literally and never becomes an element."""
    slug, _ = browser.create_event(servers)
    html = "<img src=x onerror=alert(1)>"
    servers.shell(
        "from captions.models import Caption, Event\n"
        f"e = Event.objects.get(slug={slug!r})\n"
        f"Caption.objects.create(event=e, seq=1, language='es', text={html!r}, "
        "source_text='hi', start=0, end=1)"
    )
    context = chromium.new_context(viewport=browser.PHONE)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
    expect(page.locator("#captions .caption.final .text")).to_have_text(html)
    assert page.locator("#captions img").count() == 0
    display = context.new_page()
    display.goto(f"{base_url(servers)}/e/{slug}/display/es/")
    expect(display.locator("#display-text")).to_contain_text(html)
    assert display.locator("img").count() == 0
    assert dialogs == []
    # The chosen language is remembered: the bare link reopens in Spanish.
    page.goto(f"{base_url(servers)}/e/{slug}/")
    expect(page).to_have_url(re.compile(r"\?lang=es$"))
    expect(page.locator("#language")).to_have_value("es")
    context.close()


def test_organizer_panel_lists_events_and_prints_a_join_card(chromium, servers):
    """Staff see events with listener counts, rotate the key and open a printable join card."""
    slug, key = browser.create_event(servers, title="Panel talk")
    servers.shell(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='organizer').exists() or "
        "User.objects.create_superuser('organizer', 'o@example.org', 'organizer-pw')"
    )
    context = chromium.new_context(viewport=browser.DESKTOP)
    listener = context.new_page()
    listener.goto(f"{base_url(servers)}/e/{slug}/?lang=fr")
    page = context.new_page()
    page.goto(f"{base_url(servers)}/admin/login/")
    page.fill("#id_username", "organizer")
    page.fill("#id_password", "organizer-pw")
    page.click("input[type=submit]")
    page.goto(f"{base_url(servers)}/admin/captions/event/")
    row = page.locator("tr", has_text="Panel talk")
    expect(row).to_contain_text("fr 1")
    browser.screenshot(page, "admin-events")

    row.get_by_role("link", name="Panel talk").click()
    browser.screenshot(page, "admin-event", full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate presenter key").click()
    expect(page.locator(".messagelist")).to_contain_text("New presenter key")
    browser.screenshot(page, "admin-event", full_page=True)

    page.goto(f"{base_url(servers)}/e/{slug}/card/")
    expect(page.locator(".card .short-link")).to_contain_text(f"/e/{slug}")
    browser.screenshot(page, "admin-join-card", full_page=True)
    context.close()


def test_a_reader_who_scrolls_back_gets_a_back_to_live_control_in_their_language(chromium, servers):
    """A Spanish phone: the page's words are Spanish, scrolling up through the history stops
    auto-scroll and shows "Volver al directo", which returns to the newest caption."""
    slug, _ = browser.create_event(servers)
    servers.shell(
        "from captions.models import Caption, Event\n"
        f"e = Event.objects.get(slug={slug!r})\n"
        "Caption.objects.bulk_create([Caption(event=e, seq=n, language='es', "
        "text=f'frase número {n}', source_text=f'sentence {n}', start=n, end=n + 1) "
        "for n in range(1, 61)])"
    )
    context = chromium.new_context(locale="es-ES", viewport=browser.PHONE)
    page = context.new_page()
    page.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
    expect(page.locator("#captions .caption.final")).to_have_count(60)
    expect(page.locator("html")).to_have_attribute("lang", re.compile("^es"))
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    back = page.locator("#back-to-live")
    expect(back).to_be_hidden()
    page.locator("#captions").evaluate("box => { box.scrollTop = 0; }")
    expect(back).to_be_visible()
    expect(back).to_contain_text("Volver al directo")
    back.click()
    expect(back).to_be_hidden()
    at_bottom = "box => box.scrollHeight - box.scrollTop - box.clientHeight < 48"
    assert page.locator("#captions").evaluate(at_bottom)
    context.close()
