"""What a look back running beside them costs the live decodes (session.py, model.py).

The look back at finals (review.py) decodes on the main model loaded once more, with one
thread of the lowest CPU priority, beside the live decodes instead of before them. This bench
times the live decodes of a stream (an English partial on tiny.en, a partial and a final on
base) with nothing beside them, and with look backs running without pause beside them, their
model's thread at each of three priorities: Linux's SCHED_IDLE (what the engine uses), nice
19, and normal. The conditions take turns round by round, so that the machine's drift
spreads over all of them; it also times one look back alone on each.

    python bench/look_back_beside.py [--rounds 8] [--item en-native-lj-printing]

Run it alone: anything else on the machine is one more thing beside the live decodes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

RATE = 16000
PRIORITIES = {
    "SCHED_IDLE": lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)),
    "nice 19": lambda: os.setpriority(os.PRIO_PROCESS, 0, 19),
    "normal": lambda: None,
}


def loaded_at(priority, model_dir: str):
    """Whisper base with one thread, loaded (its threads started) in a thread at ``priority``."""
    from faster_whisper import WhisperModel

    from captions.engines.offline.decoder import WhisperDecoder

    loaded = {}

    def load() -> None:
        priority()
        loaded["model"] = WhisperModel(model_dir, compute_type="int8", cpu_threads=1)

    loader = threading.Thread(target=load)
    loader.start()
    loader.join()
    return WhisperDecoder(loaded["model"])


@contextlib.contextmanager
def looking_back(decoder, samples, options):
    """Look backs on ``decoder`` without pause until the block ends (none if it is None);
    yields the list their decode seconds go to."""
    stop, done = threading.Event(), []

    def run() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            decoder.decode(samples, options)
            done.append(time.perf_counter() - started)

    runner = threading.Thread(target=run)
    if decoder is not None:
        runner.start()
        time.sleep(0.5)  # into its first decode
    try:
        yield done
    finally:
        stop.set()
        if decoder is not None:
            runner.join()


def p50_max(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.3f} / {max(seconds):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--item", default="en-native-lj-printing", help="corpus item id")
    args = parser.parse_args()

    import django

    django.setup()
    from captions.engines.offline.decoder import DecodeOptions, WhisperDecoder
    from captions.engines.offline.model import ModelSettings, load_model, packaged_model_dir
    from captions.engines.offline.policy import PolicyParams
    from tests.corpus import audio, load_manifest

    item = next(i for i in load_manifest() if i.id == args.item)
    samples, language, p = audio(item), item.language, PolicyParams()
    base = WhisperDecoder(load_model())
    tiny = WhisperDecoder(load_model(ModelSettings.for_partials()))
    partial = DecodeOptions(language, beam_size=p.partial_beam, window=p.partial_window)
    final = DecodeOptions(language, beam_size=p.final_beam, window=p.final_window)
    live = {
        "tiny.en partial, 3 s": (tiny, samples[2 * RATE : 5 * RATE], partial),
        "base partial, 3 s": (base, samples[2 * RATE : 5 * RATE], partial),
        "base final, 5 s": (base, samples[2 * RATE : 7 * RATE], final),
    }
    live = {label: work for label, work in live.items() if work[0].knows(language)}
    looked = samples[1 * RATE : 15 * RATE]  # a look back's audio: 14 s
    model_dir = str(packaged_model_dir())
    beside = {"nothing": None}
    beside |= {name: loaded_at(priority, model_dir) for name, priority in PRIORITIES.items()}

    times = {(row, label): [] for row in beside for label in live}
    looks = {row: [] for row in beside}
    for _ in range(args.rounds):
        for row, looking in beside.items():
            with looking_back(looking, looked, final) as done:
                for label, (decoder, clip, options) in live.items():
                    started = time.perf_counter()
                    decoder.decode(clip, options)
                    times[row, label].append(time.perf_counter() - started)
                    time.sleep(0.05)
            looks[row] += done

    print(f"{item.id}, {args.rounds} rounds, {os.cpu_count()} cores; seconds p50 / max")
    print(f"{'beside them':22s}" + "".join(f"{label:>24s}" for label in live) + "   look backs")
    for row in beside:
        cells = "".join(f"{p50_max(times[row, label]):>24s}" for label in live)
        done = looks[row]
        done = f"   {len(done)} done, p50 {statistics.median(done):.2f} s" if done else ""
        print(f"{row:22s}" + cells + done)
    for row, looking in beside.items():
        decoder = looking or base
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            decoder.decode(looked, final)
            seconds.append(time.perf_counter() - started)
        threads = "1 thread" if looking else "every core (the live model)"
        print(
            f"one look back of 14 s alone, {row if looking else 'base'}, {threads}: "
            f"{p50_max(seconds)} s"
        )


if __name__ == "__main__":
    main()
