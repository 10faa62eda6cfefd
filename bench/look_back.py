"""What the look back at finals (review.py) changes, replayed on finals a stream really gave.

The streaming benches cannot hold a look back's rule still: one changed decode time changes
every later decision. This bench takes the finals one run of ``bench/engine.py --keep DIR``
streamed (their first texts, before any revision) and the audio it streamed, looks back at
each as the policy would (the finals of ``look_back`` seconds before it and the next one,
decoded as one with the policy's final beam; only finals of at most ``review_below`` seconds
with the next one beginning within ``context_gap``), and prints per item the word error rate
of the finals as streamed and as revised, every change, and the look backs' decode times.

    python bench/engine.py --heldout --presenters 1 --no-fast --silence 0 --keep /tmp/run
    python bench/look_back.py /tmp/run --heldout
    python bench/look_back.py /tmp/run --heldout look_back=4 review_below=99

Run it alone: the decode times are the cost the look back adds to a live stream's decoder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

RATE = 16000


def streamed_finals(events: list[list]) -> list[tuple[str, float, float]]:
    """A run's finals as first shown: (text, speech start, last voiced end), in seconds."""
    return [(text, start, end) for kind, _, _, text, start, end in events if kind == "final"]


def look_from(finals, index: int, params) -> int:
    """The first final a look back at ``finals[index]`` decodes from (policy._look_from)."""
    first = index
    while first > 0:
        earlier, after = finals[first - 1], finals[first]
        if finals[index][1] - earlier[1] > params.look_back:
            break
        if after[1] - earlier[2] > params.context_gap:
            break
        first -= 1
    return first


def replay(decoder, params, language: str, samples: np.ndarray, finals) -> tuple[list, list]:
    """Each final's text after its look back, in order; and the look backs' decode seconds."""
    from captions.engines.offline.decoder import DecodeOptions
    from captions.engines.offline.review import revision

    texts = [text for text, _, _ in finals]
    seconds = []
    for index, (_, start, end) in enumerate(finals[:-1]):
        following = finals[index + 1]
        if end - start > params.review_below or following[1] - end > params.context_gap:
            continue
        first = look_from(finals, index, params)
        prompt = " ".join(" ".join(texts[:first]).split()[-params.prompt_words :])
        options = DecodeOptions(
            language, beam_size=params.final_beam, prompt=prompt, window=params.final_window
        )
        audio = samples[int(finals[first][1] * RATE) : int(following[2] * RATE)]
        started = time.perf_counter()
        heard = decoder.decode(audio, options)
        seconds.append(time.perf_counter() - started)
        better = revision(texts[first : index + 2], index - first, heard)
        if better:
            texts[index] = better
    return texts, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keep", type=Path, help="a directory of bench/engine.py --keep")
    parser.add_argument("params", nargs="*", help="policy parameters, name=value")
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument("--heldout", action="store_true", help="the run was of --heldout")
    held_out.add_argument("--clips", action="store_true", help="the run was of --clips")
    args = parser.parse_args()
    import django

    django.setup()
    from bench.policy_sim import params_from
    from captions.engines.offline import OfflineEngine
    from tests.corpus import (
        CLIPS_MANIFEST,
        HELDOUT_MANIFEST,
        MANIFEST,
        edit_distance,
        load_manifest,
        normalise,
    )

    manifest = CLIPS_MANIFEST if args.clips else HELDOUT_MANIFEST if args.heldout else MANIFEST
    items = {item.id: item for item in load_manifest(manifest)}
    decoder, params = OfflineEngine().decoder, params_from(args.params)
    result = json.loads((args.keep / "t0.json").read_text())
    print(f"{params}\nload before: {os.getloadavg()[0]:.2f}")
    errors, streamed_errors, words, seconds = 0, 0, 0, []
    for run in result["rounds"][0]["runs"]:
        item = items[run["item"]]
        if run["presenter"] != 0 or not item.reference:
            continue
        pcm = np.fromfile(args.keep / f"{item.id}.pcm", dtype=np.int16)
        finals = streamed_finals(run["events"])
        texts, took = replay(decoder, params, item.language, pcm / 32768.0, finals)
        seconds += took
        for (was, start, _), now in zip(finals, texts, strict=True):
            if now != was:
                print(f"  {item.id} {start:6.1f} s: {was!r} -> {now!r}")
        reference = normalise(item.reference)
        before = edit_distance(reference, normalise(" ".join(t for t, _, _ in finals)))
        after = edit_distance(reference, normalise(" ".join(texts)))
        count = len(reference)
        streamed_errors, errors, words = streamed_errors + before, errors + after, words + count
        print(f"{item.id:<34} streamed {before / count:6.1%}  looked back {after / count:6.1%}")
    seconds.sort()
    p50 = seconds[len(seconds) // 2] if seconds else 0.0
    p95 = seconds[int(len(seconds) * 0.95)] if seconds else 0.0
    print(f"WER streamed {streamed_errors / words:.2%}, looked back {errors / words:.2%}; "
          f"{len(seconds)} look backs, decode p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"total {sum(seconds):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
