"""The streaming policy's latency on a simulated clock driven by measured compute times.

bench/engine.py measures latency on the real clock: one run of the corpus takes 7 minutes a
presenter count and needs the machine alone. This runs the same policy over the corpus in
about 4 minutes with the real voice detector, decoder and translators, but computes each
decode at once and answers it after the time it took (one decoder, one decode in flight, as
the session), and passes partials and finals through one emitter in order, each taking the
time its translation took (a partial already superseded when its turn comes is skipped, as
the session does). Latency is then taken as bench/engine.py takes it: from the end of the
final's last word in an offline pass of the same model (bench/speech_metrics.py).

What it leaves out: the voice detector's own time, the event loop, a second presenter. Read
its numbers against each other (a policy change, a parameter), on a quiet machine, and
confirm a choice with bench/engine.py. Finals are counted by how they were made:
``late``: the final decode answered after the pause (or a cut at ``max_utterance``) had ended
the utterance; ``pause``: it had answered before; ``agreed``: a sentence agreed by two
partials while speech went on; ``end``: the end of the stream.

    python bench/policy_latency.py                                   # today's policy
    python bench/policy_latency.py context_seconds=15 early_pause=0.2
    python bench/policy_latency.py --items en-nonnative-so2002 --show
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

from bench.policy_sim import CHUNK, params_from  # noqa: E402 - after the path is set
from captions.engines.offline.policy import SAMPLE_RATE  # noqa: E402

OFFLINE_CACHE = Path(tempfile.gettempdir()) / "policy-latency-offline-words.json"


def offline_words(items) -> dict[str, list]:
    """Each item's offline pass (bench/engine.py's), cached: it does not depend on the policy."""
    from bench.engine import Item, load_whisper, offline_pass
    from bench.speech_metrics import Word
    from tests.corpus import audio

    cache = json.loads(OFFLINE_CACHE.read_text()) if OFFLINE_CACHE.exists() else {}
    missing = [item for item in items if item.id not in cache]
    if missing:
        model = load_whisper()
        for item in missing:
            _, words = offline_pass(
                model, Item(item.id, item.language, item.reference, audio(item))
            )
            cache[item.id] = [(w.text, w.start, w.end) for w in words]
        OFFLINE_CACHE.write_text(json.dumps(cache))
    return {item_id: [Word(*w) for w in words] for item_id, words in cache.items()}


def simulate(engine, item, params, targets: list[str]) -> list[tuple[float, object, str]]:
    """Stream one item; return (arrival in stream seconds, Partial or Final, kind) in order."""
    from captions.engines.base import SessionConfig
    from captions.engines.offline.actions import Decode, Final, Partial
    from captions.engines.offline.decoder import DecodeOptions
    from captions.engines.offline.policy import StreamingPolicy
    from tests.corpus import audio

    config = SessionConfig(item.language, tuple(t for t in targets if t != item.language))
    samples = audio(item)
    samples = samples[: len(samples) // CHUNK * CHUNK]
    policy = StreamingPolicy(params)
    answers: list[tuple[float, int, str]] = []  # (due, decode id, text)
    decoder_free = 0.0
    outbox: list[tuple[float, object, str]] = []

    def carry_out(actions, now: float, kind: str) -> None:
        nonlocal decoder_free
        for action in actions:
            if isinstance(action, Decode):
                options = DecodeOptions.for_request(action, item.language)
                started = time.perf_counter()
                text = engine.decoder.decode(action.audio, options)
                decoder_free = max(now, decoder_free) + time.perf_counter() - started
                answers.append((decoder_free, action.id, text))
            elif isinstance(action, Partial | Final):
                outbox.append((now, action, kind))

    def answer_until(now: float) -> None:
        while answers and min(answers)[0] <= now:
            due, decode_id, text = min(answers)
            answers.remove((due, decode_id, text))
            asked = policy.asked.get(decode_id)
            # A stale final decode (speech went on) only adds a hypothesis: "agreed".
            valid_final = asked is not None and asked.utterance.final_decode == decode_id
            carry_out(policy.decoded(decode_id, text), due, "late" if valid_final else "agreed")

    for start in range(0, len(samples), CHUNK):
        chunk = samples[start : start + CHUNK]
        now = (start + len(chunk)) / SAMPLE_RATE
        answer_until(now)
        carry_out(policy.feed(chunk, engine.speech_probabilities(chunk)), now, "pause")
    now = len(samples) / SAMPLE_RATE
    answer_until(now)
    carry_out(policy.finish(), now, "end")
    while answers:
        answer_until(min(answers)[0])
    return emit(engine, config, outbox)


def emit(engine, config, outbox) -> list[tuple[float, object, str]]:
    """The session's emitter: one at a time, translated; stale partials skipped."""
    from captions.engines.offline.actions import Partial

    free, shown = 0.0, []
    for index, (ready, action, kind) in enumerate(outbox):
        start = max(ready, free)
        later = outbox[index + 1 :]
        if isinstance(action, Partial) and any(
            other.segment_id == action.segment_id and at <= start for at, other, _ in later
        ):
            continue
        started = time.perf_counter()
        engine.translate(action.stable if isinstance(action, Partial) else action.text, config)
        free = start + time.perf_counter() - started
        shown.append((free, action, kind))
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", help="policy parameters, name=value")
    parser.add_argument("--items", help="corpus item ids, comma-separated (default: all)")
    parser.add_argument("--targets", default="es,pt,ca")
    parser.add_argument("--show", action="store_true", help="print every final")
    args = parser.parse_args()
    import django

    django.setup()
    from bench.speech_metrics import (
        Shown,
        dropped_phrases,
        last_matched_words,
        onset_latencies,
        percentile,
    )
    from captions.engines.offline import OfflineEngine
    from captions.engines.offline.actions import Final
    from tests.corpus import load_manifest, normalise, word_error_rate

    params = params_from(args.params)
    wanted = set(args.items.split(",")) if args.items else None
    items = [i for i in load_manifest() if i.reference and (wanted is None or i.id in wanted)]
    offline = offline_words(items)
    engine = OfflineEngine()
    latencies, by_kind, onsets = [], collections.defaultdict(list), []
    errors = words = drops = 0.0
    print(f"policy: {params}\nload before: {os.getloadavg()[0]:.2f}")
    for item in items:
        shown = simulate(engine, item, params, args.targets.split(","))
        finals = [(Shown(at, a.text, a.start, a.end), kind) for at, a, kind in shown
                  if isinstance(a, Final)]  # fmt: skip
        spoken = offline[item.id]
        mine = []
        for index, word in sorted(last_matched_words(spoken, [f for f, _ in finals]).items()):
            final, kind = finals[index]
            mine.append(final.arrival - spoken[word].end)
            by_kind[kind].append(mine[-1])
            if args.show:
                print(f"  {final.arrival:7.2f} s  +{mine[-1]:.2f} s  {kind:<6} {final.text}")
        latencies += mine
        every = [Shown(at, a.text, a.start, a.end, isinstance(a, Final), a.segment_id)
                 for at, a, _ in shown]  # fmt: skip
        onsets += onset_latencies(spoken, every)[0]
        text = " ".join(f.text for f, _ in finals)
        wer, count = word_error_rate(item.reference, text), len(item.reference.split())
        errors, words = errors + wer * count, words + count
        finals_words = [w for f, _ in finals for w in normalise(f.text)]
        phrases = dropped_phrases(spoken, finals_words, normalise(item.reference))
        dropped = len(phrases)
        drops += dropped
        for phrase in phrases:
            said = " ".join(w.text for w in phrase)
            print(f"  dropped {phrase[0].start:6.1f}-{phrase[-1].end:6.1f} s  {said}")
        print(f"{item.id:<26} WER {wer:6.1%}  last word -> final p50/p95 "
              f"{percentile(mine, 50):.2f}/{percentile(mine, 95):.2f} s  dropped {dropped}",
              flush=True)  # fmt: skip
    print(
        f"{'all':<26} WER {errors / words:6.1%}  last word -> final p50/p95 "
        f"{percentile(latencies, 50):.2f}/{percentile(latencies, 95):.2f} s  dropped "
        f"{drops:.0f}  onset -> text p50/p95 {percentile(onsets, 50):.2f}/"
        f"{percentile(onsets, 95):.2f} s"
    )
    for kind, values in sorted(by_kind.items()):
        print(f"  finals {kind:<6} {len(values):4}  p50 {percentile(values, 50):.2f} s  "
              f"p95 {percentile(values, 95):.2f} s  max {max(values):.2f} s")  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
