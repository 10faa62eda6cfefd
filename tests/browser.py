"""Helpers for driving Debian's Chromium through Playwright against real Daphne servers."""

from __future__ import annotations

import wave
from pathlib import Path

from tests.fake_engine import silence, tone
from tests.servers import ROOT, ServerSet

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 820}


def chromium_args(microphone: Path | None = None) -> list[str]:
    """Flags for a quiet headless Chromium; ``microphone`` is a WAV the fake mic plays once."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if microphone is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    return args


def launch(playwright, microphone: Path | None = None):
    """Start Chromium whose microphone plays ``microphone`` from the getUserMedia call on."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(microphone), headless=True
    )


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    """Write 16-bit mono PCM as a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def scripted_speech_wav(path: Path) -> Path:
    """Tones and silences that the scripted engine hears as two utterances.

    Voiced 100 ms frames become words (alpha, bravo, ...); a silent frame ends the utterance.
    """
    pcm = silence(0.3) + tone(0.6) + silence(1.0) + tone(0.4) + silence(1.5)
    return write_wav(path, pcm)


def create_event(
    servers: ServerSet,
    *,
    title: str = "Browser talk",
    source: str = "en",
    targets: tuple[str, ...] = ("es", "fr"),
) -> tuple[str, str]:
    """Create an event in the servers' database; return its slug and presenter key."""
    lines = [
        "from captions.models import Event, EventLanguage",
        f"e = Event.objects.create(title={title!r}, source_language={source!r})",
        *(f"EventLanguage.objects.create(event=e, code={code!r}, speech=True)" for code in targets),
        "print(e.slug, e.presenter_key)",
    ]
    slug, key = servers.shell("\n".join(lines)).strip().splitlines()[-1].split()
    return slug, key


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def final_texts(page) -> list[str]:
    """The final captions an audience page shows, in order."""
    return page.locator("#captions .caption.final .text").all_inner_texts()


def final_seqs(page) -> list[str]:
    return page.eval_on_selector_all(
        "#captions .caption.final", "els => els.map(el => el.dataset.seq)"
    )
