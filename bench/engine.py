"""Embedded engine benchmark: latency, real-time factor, partial stability, CPU.

Feeds speech at speaking pace, in 100 ms frames, through the configured engine (the embedded
one by default) and reports, per presenter count:
- time from speech onset to the first partial, and from end of speech to the final (p50, p95),
- how often a partial's text is revised (not an extension of the previous partial),
- the real-time factor of a run fed as fast as possible, and CPU seconds per audio second.
Speech regions come from the Silero voice-activity model on the input itself.

    python bench/engine.py                       # generated speech (Piper), 1 and 2 presenters
    python bench/engine.py --file talk.wav       # any recording PyAV can decode
    python bench/engine.py --talk pauses         # speech with many short pauses
    python bench/engine.py --targets es,pt,ca --presenters 1,2,3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

SENTENCES = [
    "Good morning everyone, and thank you for coming to this talk.",
    "Today I want to show you how we caption live presentations.",
    "The speech is recognized on our own server, without any cloud service.",
    "Each listener reads the talk in their own language on their phone.",
    "Let us look at the numbers we measured on a small machine.",
    "Thank you, and I am happy to take your questions now.",
]
# One long stretch of speech whose many short pauses (commas) each start an early final decode
# that speech then makes stale: the case where wasted decodes would show.
PAUSES = (
    "So, first of all, thank you, all of you, for coming here today. "
    "We built this, step by step, over a year, with help from many people. "
    "The idea is simple: you speak, and your audience reads, in their own language, "
    "on their phones. Now, let me show you, in a few minutes, how it works, and what it costs."
)
FRAME = 1600  # samples: 100 ms


@dataclass
class Run:
    """Results of one session with their wall-clock arrival times (seconds from stream start)."""

    events: list[tuple[float, object]] = field(default_factory=list)


def generated_speech(talk: str) -> Path:
    import django

    django.setup()
    from tests.whisper_speech import FIXTURES, speech_wav

    if talk == "pauses":
        return speech_wav(PAUSES, pad=(0.5, 1.5))
    target = FIXTURES / "bench-talk.wav"
    if not target.exists():
        import subprocess

        parts = [str(speech_wav(s, pad=(0.2, 1.2))) for s in SENTENCES]
        subprocess.run(["sox", *parts, str(target)], check=True)
    return target


def load(path: Path):
    import numpy as np
    from faster_whisper.audio import decode_audio

    audio = decode_audio(str(path), sampling_rate=16000)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2"), audio


def speech_regions(audio) -> list[tuple[float, float]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=500, speech_pad_ms=0)
    return [(r["start"] / 16000, r["end"] / 16000) for r in get_speech_timestamps(audio, options)]


async def stream(engine, config, samples, realtime: bool) -> Run:
    session = await engine.start_session(config)
    run = Run()
    started = time.monotonic()

    async def feed() -> None:
        for index, start in enumerate(range(0, len(samples), FRAME)):
            await session.send_audio(samples[start : start + FRAME].tobytes())
            delay = started + (index + 1) * 0.1 - time.monotonic() if realtime else 0
            await asyncio.sleep(max(0.0, delay))
        await session.finish()

    feeder = asyncio.create_task(feed())
    async for result in session.results():
        run.events.append((time.monotonic() - started, result))
    await feeder
    return run


def latencies(run: Run, regions) -> tuple[list[float], list[float]]:
    """Onset -> first partial and end of speech -> final, per speech region."""
    from captions.engines.base import CaptionResult

    first_partial, final = [], []
    for start, end in regions:
        mine = [
            (t, r)
            for t, r in run.events
            if isinstance(r, CaptionResult) and r.start < end and r.end > start and r.source_text
        ]
        partials = [t for t, r in mine if not r.is_final]
        finals = [t for t, r in mine if r.is_final]
        if partials:
            first_partial.append(partials[0] - start)
        if finals:
            # The last one: the engine may end an utterance at a pause inside the region.
            final.append(finals[-1] - end)
    return first_partial, final


def revision_rate(run: Run) -> tuple[int, int]:
    """(revised partials, partials): a revision is a partial that does not extend the last."""
    from captions.engines.base import CaptionResult

    last: dict[str, str] = {}
    revised = count = 0
    for _, r in run.events:
        if not isinstance(r, CaptionResult) or r.is_final:
            continue
        count += 1
        previous = last.get(r.segment_id)
        if previous is not None and not r.source_text.startswith(previous):
            revised += 1
        last[r.segment_id] = r.source_text
    return revised, count


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def measure(engine, config, samples, regions, presenters: int) -> None:
    duration = len(samples) / 16000
    cpu, wall = time.process_time(), time.monotonic()
    runs = await asyncio.gather(*(stream(engine, config, samples, True) for _ in range(presenters)))
    cpu_per_audio = (time.process_time() - cpu) / (duration * presenters)
    onset, ending, revised, partials = [], [], 0, 0
    for run in runs:
        first, final = latencies(run, regions)
        onset += first
        ending += final
        r, n = revision_rate(run)
        revised, partials = revised + r, partials + n
    fast = time.monotonic()
    await asyncio.gather(*(stream(engine, config, samples, False) for _ in range(presenters)))
    rtf = (time.monotonic() - fast) / duration  # all presenters' audio, on one machine
    print(
        f"{presenters:>3} {duration:>6.1f} {pct(onset, 50):>8.2f} {pct(onset, 95):>8.2f} "
        f"{pct(ending, 50):>8.2f} {pct(ending, 95):>8.2f} {revised:>4}/{partials:<4} "
        f"{rtf:>6.2f} {cpu_per_audio:>7.2f}   ({time.monotonic() - wall:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Embedded engine benchmark")
    parser.add_argument("--file", type=Path, help="a recording (default: generated speech)")
    parser.add_argument(
        "--talk",
        choices=("sentences", "pauses"),
        default="sentences",
        help="generated speech: six sentences, or one stretch with many short pauses",
    )
    parser.add_argument("--source", default="en")
    parser.add_argument("--targets", default="es,pt,ca")
    parser.add_argument("--presenters", default="1,2")
    args = parser.parse_args()
    import django

    django.setup()
    from captions.engines import get_engine
    from captions.engines.base import SessionConfig

    path = args.file or generated_speech(args.talk)
    samples, audio = load(path)
    regions = speech_regions(audio)
    engine = get_engine()
    config = SessionConfig(args.source, tuple(t for t in args.targets.split(",") if t))
    asyncio.run(stream(engine, config, samples[: 16000 * 3], False))  # load models first
    print(
        f"{path}: {len(samples) / 16000:.1f} s, {len(regions)} speech regions, "
        f"targets {config.target_languages}, load {os.getloadavg()[0]:.2f}"
    )
    print("pres  audio  onset→partial p50/p95  end→final p50/p95  revised  RTF  cpu/audio-s")
    for presenters in (int(p) for p in args.presenters.split(",")):
        asyncio.run(measure(engine, config, samples, regions, presenters))
    print(f"load after: {os.getloadavg()[0]:.2f}; statistics over regions of all presenters")


if __name__ == "__main__":
    main()
