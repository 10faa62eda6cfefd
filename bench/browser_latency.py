"""Browser end to end (issue 10): a corpus recording spoken into the presenter page, captions
timed as they arrive on audience phones, against the offline pass's word times.

Daphne serves a fresh database (tests/servers.py) with the embedded engine; Debian's Chromium
(tests/browser.py, never a downloaded browser) plays the item's WAV as its fake microphone,
from the page's getUserMedia call on. Audience pages (phone-sized) open first: the source
language (English) and, if the engine offers them, Spanish and Portuguese.

Clocks: an init script on the presenter page wraps ``getUserMedia`` and records Date.now() at
the call: that is stream time 0 (the WAV's first sample). An init script on each audience page
wraps WebSocket and records Date.now() as each message arrives, before the page handles it.
All pages share the machine's clock. The engine's spans (seconds of audio since the session's
first frame) start later than the WAV by the page's capture set-up: that shift is estimated as
the worklet's first 100 ms frame (an AudioWorkletNode wrapper) - 100 ms - the getUserMedia
call, and added to spans before matching words. The page holds captured audio until the
engine is live, so the first words' captions also carry the engine's start-up.

Measures (bench/speech_metrics.py, as bench/engine.py):
  last word -> final   source-language page: each final's arrival - the offline end of its last
                       word aligned to the offline pass. Other languages: the arrival of the
                       final with the same seq - that same word end (translations cannot be
                       aligned to the English words).
  onset -> first text  source-language page: per stretch of speech (offline words separated by
                       >= 0.5 s), the first caption, partial or final, containing a word of the
                       stretch - the stretch's start. Other languages: the first caption with
                       text in that language of the utterance (seq) that first showed the stretch
                       on the source page, arriving after the onset.
The browser, the server and the engine share this machine: the figures include their
contention, and the printed load says how busy it was.

    python bench/browser_latency.py                          # en-native-lj-printing
    python bench/browser_latency.py --item en-nonnative-so1099 --targets es --save run.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRESENTER_CLOCK = """
(() => {
  const media = navigator.mediaDevices;
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) => {
    window.__gum = window.__gum || Date.now();
    return original(constraints);
  };
  const Node = window.AudioWorkletNode;
  window.AudioWorkletNode = class extends Node {
    constructor(...args) {
      super(...args);
      this.port.addEventListener("message", (event) => {
        const first = event.data && event.data.type === "frame" && !window.__firstCapture;
        if (first) window.__firstCapture = Date.now();
      });
    }
  };
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== "string" && !window.__firstFrame) window.__firstFrame = Date.now();
    if (typeof data === "string" && data.includes('"start"') && !window.__startSent) {
      window.__startSent = Date.now();
      this.addEventListener("message", (event) => {
        const live = typeof event.data === "string" && event.data.includes('"live"');
        if (live && !window.__live) window.__live = Date.now();
      });
    }
    return send.call(this, data);
  };
})();
"""
AUDIENCE_CLOCK = """
(() => {
  const Native = window.WebSocket;
  window.__frames = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") window.__frames.push([Date.now(), event.data]);
      });
    }
  };
})();
"""


@dataclass
class Page:
    """One audience page and the captions it received (stream seconds)."""

    language: str
    page: object
    captions: list[dict] | None = None


def start_servers(workdir: Path, engine: str):
    """Daphne on a fresh database, sharing this checkout's joined Whisper weights."""
    from tests.servers import server_set

    models = ROOT / "var" / "models"
    if models.exists():
        (workdir / "models").symlink_to(models)
    servers = server_set(workdir, CAPTION_ENGINE=engine)
    servers.port = servers.start()
    return servers


def offered(servers, source: str, wanted: tuple[str, ...]) -> list[str]:
    """The source language, then the wanted targets that the server's engine serves."""
    code = (
        "from captions.engines import get_engine\n"
        f"print(' '.join(get_engine().language_support().targets_for({source!r})))"
    )
    served = servers.shell(code).split()
    return [source, *(c for c in wanted if c in served)]


def open_audiences(browser, base: str, slug: str, languages: list[str]) -> list[Page]:
    from playwright.sync_api import expect

    from tests.browser import PHONE

    pages = []
    for language in languages:
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_init_script(AUDIENCE_CLOCK)
        page = context.new_page()
        page.goto(f"{base}/e/{slug}/?lang={language}")
        expect(page.locator("#state")).to_have_attribute("data-state", "waiting")
        pages.append(Page(language, page))
    return pages


def start_presenter(browser, base: str, slug: str, key: str):
    """Open the presenter page and press the microphone: the WAV starts playing."""
    from playwright.sync_api import expect

    from tests.browser import DESKTOP

    context = browser.new_context(viewport=DESKTOP, permissions=["microphone"])
    context.add_init_script(PRESENTER_CLOCK)
    page = context.new_page()
    page.goto(f"{base}/e/{slug}/present/#key={key}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    page.locator("#mic").click()
    expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=60_000)
    return page


def finals_on(page: Page) -> int:
    frames = page.page.evaluate("window.__frames.map(f => f[1])")
    return sum('"final":true' in f for f in frames)


def wait_for_the_end(source: Page, seconds: float, started: float, quiet: float = 8.0) -> None:
    """Until the audio has played, then until no new final for ``quiet`` s (at most 90 s)."""
    time.sleep(max(0.0, started + seconds - time.time()))
    count, since, deadline = finals_on(source), time.monotonic(), time.monotonic() + 90
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(1)
        now = finals_on(source)
        if now != count:
            count, since = now, time.monotonic()


def captions_of(page: Page, zero_ms: float) -> list[dict]:
    """The live caption messages a page received, with ``arrival`` in stream seconds."""
    captions = []
    for at, data in page.page.evaluate("window.__frames"):
        message = json.loads(data)
        if message.get("type") == "caption" and message.get("text"):
            captions.append({**message, "arrival": (at - zero_ms) / 1000})
    return captions


def as_shown(captions: list[dict], shift: float) -> list:
    """The captions as first shown: a revision (``"revision"``: the engine's look back or a
    moderator correcting a final already out, seconds later) is no final's arrival."""
    from bench.speech_metrics import Shown

    return [
        Shown(c["arrival"], c["text"], c["start"] + shift, c["end"] + shift, c["final"], c["seq"])
        for c in captions
        if not c.get("revision")
    ]


def measure(words: list, source: list, other: list | None = None) -> dict[str, list[float]]:
    """Latencies of one page: ``source`` are the source page's captions, ``other`` (a
    translated page's) are timed by the source captions' words, matched by seq."""
    from bench import speech_metrics as m

    finals = [c for c in source if c.final]
    last = {finals[f].segment: words[j].end for f, j in m.last_matched_words(words, finals).items()}
    firsts = m.first_showing(words, source)
    page = source if other is None else other
    final_arrivals = {c.segment: c.arrival for c in page if c.final}
    last_word = [final_arrivals[seq] - end for seq, end in last.items() if seq in final_arrivals]
    onset = []
    for stretch, first in firsts:
        start = words[stretch[0]].start
        arrivals = [c.arrival for c in page if first and c.segment == first.segment]
        arrivals = [t for t in arrivals if t >= start]
        if arrivals:
            onset.append(min(arrivals) - start)
    return {"last": last_word, "onset": onset, "stretches": len(firsts), "finals": len(finals)}


def report(pages: list[Page], words: list, shift: float) -> None:
    from bench.speech_metrics import percentile

    source = as_shown(pages[0].captions, shift)
    print(
        f"  {'page':<6} {'finals':>6}  last word→final p50/p95  onset→first text p50/p95  shown"
        "                  revised"
    )
    for page in pages:
        mine = None if page is pages[0] else as_shown(page.captions, shift)
        got = measure(words, source, mine)
        shown_count = f"{len(got['onset'])}/{got['stretches']} stretches"
        revised = sum(1 for c in page.captions if c.get("revision"))
        finals = sum(1 for c in page.captions if c["final"]) - revised
        print(
            f"  {page.language:<6} {finals:>6}  "
            f"{percentile(got['last'], 50):7.2f} / {percentile(got['last'], 95):5.2f} s"
            f"        {percentile(got['onset'], 50):7.2f} / {percentile(got['onset'], 95):5.2f} s"
            f"       {shown_count:<22s}  {revised}"
        )


def run(args, item, wav: Path, words: list, workdir: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests import browser

    servers = start_servers(workdir, args.engine)
    try:
        languages = offered(servers, item.language, args.targets)
        slug, key = browser.create_event(servers, source=item.language, targets=languages[1:])
        base = f"http://127.0.0.1:{servers.port}"
        with sync_playwright() as driver:
            chromium = browser.launch(driver, wav)
            pages = open_audiences(chromium, base, slug, languages)
            presenter = start_presenter(chromium, base, slug, key)
            zero = presenter.evaluate("window.__gum")
            wait_for_the_end(pages[0], item.seconds + 2, zero / 1000)
            capture = presenter.evaluate(
                "[window.__firstCapture, window.__firstFrame, window.__startSent, window.__live]"
            )
            for page in pages:
                page.captions = captions_of(page, zero)
            chromium.close()
    finally:
        servers.stop_all()
    shift = max(0.0, (capture[0] - zero) / 1000 - 0.1)
    print(f"\nserved by Daphne with CAPTION_ENGINE={args.engine}; languages {', '.join(languages)}")
    print(
        f"after getUserMedia: first 100 ms frame captured {(capture[0] - zero) / 1000:.2f} s, "
        f"first sent {(capture[1] - zero) / 1000:.2f} s (the page holds audio until live); "
        f"engine spans shifted by {shift:.2f} s"
    )
    if capture[2] and capture[3]:
        print(
            f'start-up: "start" sent {(capture[2] - zero) / 1000:.2f} s after getUserMedia, '
            f'"live" came {(capture[3] - capture[2]) / 1000:.2f} s after it (the session opening)'
        )
    report(pages, words, shift)
    if args.save:
        saved = {
            "words": [[w.text, w.start, w.end] for w in words],
            "shift": shift,
            "pages": {p.language: p.captions for p in pages},
        }
        args.save.write_text(json.dumps(saved))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--item", default="en-native-lj-printing", help="a corpus (or held-out) item id"
    )
    parser.add_argument("--targets", default="es,pt", help="audience languages besides source")
    parser.add_argument("--engine", default="local", help="CAPTION_ENGINE for the server")
    parser.add_argument("--save", type=Path, help="write the captions and word times as JSON")
    args = parser.parse_args()
    args.targets = tuple(t for t in args.targets.split(",") if t)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")
    import django

    django.setup()
    from bench.engine import Item, load, load_whisper, offline_pass, quiet
    from tests import corpus

    quiet()
    manifests = (corpus.MANIFEST, corpus.HELDOUT_MANIFEST, corpus.CLIPS_MANIFEST)
    found = [i for m in manifests for i in corpus.load_manifest(m) if i.id == args.item]
    if not found:
        raise SystemExit(f"{args.item} is in no tests/corpus/ manifest")
    item = Item(found[0].id, found[0].language, found[0].reference, corpus.audio(found[0]))
    print(f"{item.id}: {item.seconds:.1f} s of {item.language}; browser, server and engine share")
    print(f"this machine. Machine load before: {load()}")
    text, words = offline_pass(load_whisper(), item)
    print(f"offline pass: {len(words)} words")
    with tempfile.TemporaryDirectory(prefix="browser-latency-") as tmp:
        wav = corpus.wav_path(found[0], Path(tmp))
        run(args, item, wav, words, Path(tmp))
    print(f"machine load after: {load()}")


if __name__ == "__main__":
    main()
