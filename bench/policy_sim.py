"""The streaming policy in simulated time: its word error rate, whatever else the machine does.

Runs the offline engine's policy (captions/engines/offline/policy.py) over corpus items with
the real voice detector and the real Whisper decoder, but on a simulated clock: each decode
is computed at once and its answer delivered ``--delay`` seconds of stream time later, as a
decoder of that speed would. The decodes, and so the transcript, are then the same on a busy
machine as on a quiet one, and a policy change can be compared in minutes while other work
runs. Latency needs the real clock: use bench/engine.py for it, alone.

    python bench/policy_sim.py                                  # every corpus item with speech
    python bench/policy_sim.py --items en-nonnative-so2002 --show
    python bench/policy_sim.py final_window=30 partial_window=30 final_keeps_agreed=1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

CHUNK = 3 * 512  # what a presenter page sends, in whole voice-detector frames: ~100 ms


def params_from(pairs: list[str]):
    """PolicyParams from ``name=value`` pairs, each value of its field's type."""
    from captions.engines.offline.policy import PolicyParams

    types = {f.name: type(f.default) for f in dataclasses.fields(PolicyParams)}
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types:
            raise SystemExit(f"unknown policy parameter {name!r}; known: {', '.join(types)}")
        kind = types[name]
        values[name] = value in ("1", "true", "yes") if kind is bool else kind(value)
    return PolicyParams(**values)


def simulate(engine, item, params, delay: float, show: bool) -> tuple[str, int, float]:
    """Stream one item; return (finals' text, decodes asked, decoder seconds)."""
    from captions.engines.offline.actions import Decode, Final
    from captions.engines.offline.decoder import DecodeOptions
    from captions.engines.offline.policy import StreamingPolicy
    from tests.corpus import audio as load_audio

    samples = load_audio(item)
    samples = samples[: len(samples) // CHUNK * CHUNK]
    policy = StreamingPolicy(params)
    waiting: list[tuple[int, Decode, str | None]] = []
    finals: list[str] = []
    compute = 0.0

    def carry_out(actions, now: int) -> None:
        nonlocal compute
        for action in actions:
            if isinstance(action, Final):
                finals.append(action.text)
                if show:
                    print(f"  {now / 16000:7.2f} s  final  {action.text}")
            if not isinstance(action, Decode):
                continue
            options = DecodeOptions.for_request(action, item.language)
            started = time.perf_counter()
            text = engine.decoder.decode(action.audio, options)
            compute += time.perf_counter() - started
            waiting.append((now + int(delay * 16000), action, text))

    def answer_due(now: int) -> None:
        for entry in sorted(waiting, key=lambda e: e[0]):
            if entry[0] <= now:
                waiting.remove(entry)
                carry_out(policy.decoded(entry[1].id, entry[2]), now)

    for start in range(0, len(samples), CHUNK):
        chunk = samples[start : start + CHUNK]
        end = start + len(chunk)
        carry_out(policy.feed(chunk, engine.speech_probabilities(chunk)), end)
        answer_due(end)
    now = len(samples)
    carry_out(policy.finish(), now)
    while waiting:
        now = min(entry[0] for entry in waiting)
        answer_due(now)
    return " ".join(finals), policy.decodes, compute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", help="policy parameters, name=value")
    parser.add_argument("--items", help="corpus item ids, comma-separated (default: all)")
    parser.add_argument("--delay", type=float, default=0.35, help="seconds a decode takes")
    parser.add_argument("--show", action="store_true", help="print every final")
    args = parser.parse_args()
    import django

    django.setup()
    from captions.engines.offline import OfflineEngine
    from tests.corpus import load_manifest, word_error_rate

    params = params_from(args.params)
    wanted = set(args.items.split(",")) if args.items else None
    items = [i for i in load_manifest() if i.reference and (wanted is None or i.id in wanted)]
    engine = OfflineEngine()
    errors = words = 0.0
    print(f"policy: {params}")
    for item in items:
        text, decodes, compute = simulate(engine, item, params, args.delay, args.show)
        wer = word_error_rate(item.reference, text)
        count = len(item.reference.split())
        errors, words = errors + wer * count, words + count
        print(f"{item.id:<26} WER {wer:6.1%}  decodes {decodes:4}  decoder {compute:6.1f} s")
    print(f"{'all':<26} WER {errors / words:6.1%}")


if __name__ == "__main__":
    main()
