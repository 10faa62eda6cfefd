"""What a final decode should hear before its utterance: the previous one's audio, or only text.

The streaming policy decodes an utterance's final after the previous utterance's audio, with
that utterance's text forced as prefix ("audio context", policy.py ``context_seconds``), or,
when there is none, after nothing, with the earlier text as Whisper's prompt only. Which is
better depends on the utterance, and the streaming benches cannot say: one changed decode
time changes every later decision, so two runs of the same policy differ by more than the
choice does. This bench holds everything else still. It cuts each corpus item into
utterances where the offline pass (bench/engine.py's, cached by bench/policy_latency.py)
has a pause, decodes each one's final both ways with the policy's own final options (beam,
window, prompt of the words before), in order, each way carrying its own text forward, and
prints per way: word error rate, dropped phrases, and decode seconds.

    python bench/final_context.py
    python bench/final_context.py --pause 0.5 --ways context,alone,short-alone
    python bench/final_context.py --ways context final_beam=2 final_window=12
    python bench/final_context.py --ways context,context+chain context_seconds=8

A way ending in "+chain" hears every finished utterance that began within context_seconds
(and follows the next within context_gap) before its own, instead of the previous one only.
A way ending in "+revise" decodes each short utterance again once the next one is in and
keeps the part before the next one's words (SHOW_REVISIONS=1 lists the changes): what a
correction sent after the next final would do. The engine's look back at a final
(review.py) is measured on streamed finals instead: bench/look_back.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")

RATE = 16000
PREROLL = 0.3  # seconds of audio kept before an utterance's first word (the policy keeps more
# when the pause allows; the voice detector starts it a little before the word's offline time)
TAIL = 0.25  # ... and after its last word: where the pause's final decode is asked


@dataclass(frozen=True)
class Utterance:
    start: float  # seconds: audio start (pre-roll included)
    end: float  # seconds: audio end


def utterances(words, pause: float, tail_seconds: float = TAIL) -> list[Utterance]:
    """The offline words' stretches of speech (``speech_stretches``) as audio spans."""
    from bench.speech_metrics import speech_stretches

    groups = [(words[s[0]], words[s[-1]]) for s in speech_stretches(words, pause)]
    spans = []
    for index, (head, tail) in enumerate(groups):
        earliest = spans[-1].end if spans else 0.0
        start = max(earliest, head.start - PREROLL)
        end = tail.end + tail_seconds
        following = groups[index + 1][0].start if index + 1 < len(groups) else end
        spans.append(Utterance(start, min(end, following)))
    return spans


def final_options(item, params, prefix: str, prompt: str, fresh: float):
    """The policy's options for a final decode (beam, window), with this context."""
    from captions.engines.offline.decoder import DecodeOptions

    return DecodeOptions(
        item.language,
        beam_size=params.final_beam,
        prefix=prefix,
        prompt=prompt,
        window=params.final_window,
        fresh_seconds=fresh,
    )


def decode_item(decoder, params, item, samples, spans, way: str) -> tuple[list[str], float]:
    """Each utterance's final text, decoded ``way``; and the decoder's seconds."""

    revise, way = way.endswith("+revise"), way.removesuffix("+revise")
    chain, way = way.endswith("+chain"), way.removesuffix("+chain")
    texts: list[str] = []
    asked: list[tuple[float, str, str]] = []  # each decode's audio start, prefix and prompt
    seconds = 0.0
    for index, span in enumerate(spans):
        fresh = span.end - span.start
        # The previous utterance, or with "+chain" as many finished ones as began within
        # context_seconds and follow each other within context_gap.
        chained = 0
        for earlier_span in reversed(spans[:index]):
            following = spans[index - chained]
            if span.start - earlier_span.start > params.context_seconds:
                break
            if following.start - earlier_span.end > params.context_gap:
                break
            chained += 1
            if not chain:
                break
        if way == "alone" or (way == "short-alone" and fresh < 3.0):
            chained = 0
        if way == "long-alone" and fresh >= params.context_below:
            chained = 0
        start = spans[index - chained].start if chained else span.start
        prefix = " ".join(texts[len(texts) - chained :]) if chained else ""
        earlier = " ".join(texts[: len(texts) - chained]).split()[-params.prompt_words :]
        options = final_options(item, params, prefix, " ".join(earlier), fresh)
        audio = samples[int(start * RATE) : int(span.end * RATE)]
        started = time.perf_counter()
        texts.append(decoder.decode(audio, options))
        seconds += time.perf_counter() - started
        asked.append((start, prefix, options.prompt))
    if revise:
        seconds += revise_short(decoder, params, item, samples, spans, texts, asked)
    return texts, seconds


def revise_short(decoder, params, item, samples, spans, texts, asked) -> float:
    """A second pass: each short utterance decoded again once the next one is in (its audio
    after it), and its text replaced by the part of that decode before the next one's words.
    What a correction sent after the next final would change; returns the decoder's seconds."""
    from difflib import SequenceMatcher

    from tests.corpus import normalise

    seconds = 0.0
    for index in range(len(spans) - 1):
        span, following = spans[index], spans[index + 1]
        if span.end - span.start >= params.context_below or not texts[index + 1].strip():
            continue
        if following.start - span.end > params.context_gap:
            continue
        start, prefix, prompt = asked[index]
        options = final_options(item, params, prefix, prompt, following.end - span.start)
        started = time.perf_counter()
        words = decoder.decode(samples[int(start * RATE) : int(following.end * RATE)], options)
        seconds += time.perf_counter() - started
        words = words.split()
        heard = [" ".join(normalise(w)) for w in words]
        later = [" ".join(normalise(w)) for w in texts[index + 1].split()]
        # Where the next utterance's words begin in the joint decode: its first run of two or
        # more matching words, moved back by where that run starts in the next utterance.
        matcher = SequenceMatcher(None, heard, later, autojunk=False)
        runs = [m for m in matcher.get_matching_blocks() if m.size >= min(2, len(later))]
        if runs and runs[0].b <= 2:
            revised = " ".join(words[: max(0, runs[0].a - runs[0].b)])
            if os.environ.get("SHOW_REVISIONS") and revised != texts[index]:
                print(f"  {span.start:6.1f} s: {texts[index]!r} -> {revised!r}", file=sys.stderr)
            texts[index] = revised
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="*", help="policy parameters, name=value")
    parser.add_argument("--pause", type=float, default=0.4, help="seconds that end an utterance")
    parser.add_argument("--ways", default="context,alone,short-alone,long-alone")
    parser.add_argument("--tail", type=float, default=TAIL, help="seconds after the last word")
    parser.add_argument("--items", help="corpus item ids, comma-separated (default: all)")
    parser.add_argument("--heldout", action="store_true", help="the held-out recordings instead")
    args = parser.parse_args()
    import django

    django.setup()
    from bench.policy_latency import offline_words
    from bench.policy_sim import params_from
    from bench.speech_metrics import dropped_phrases
    from captions.engines.offline import OfflineEngine
    from tests.corpus import (
        HELDOUT_MANIFEST,
        MANIFEST,
        audio,
        load_manifest,
        normalise,
        word_error_rate,
    )

    wanted = set(args.items.split(",")) if args.items else None
    manifest = load_manifest(HELDOUT_MANIFEST if args.heldout else MANIFEST)
    items = [i for i in manifest if i.reference and (wanted is None or i.id in wanted)]
    offline = offline_words(items)
    decoder, params = OfflineEngine().decoder, params_from(args.params)
    ways = args.ways.split(",")
    totals = {way: [0.0, 0, 0, 0.0] for way in ways}  # errors, words, drops, seconds
    print(f"{params}\nload before: {os.getloadavg()[0]:.2f}; utterances: pauses >= {args.pause} s")
    for item in items:
        samples, spoken = audio(item), offline[item.id]
        spans = utterances(spoken, args.pause, args.tail)
        row = []
        for way in ways:
            texts, seconds = decode_item(decoder, params, item, samples, spans, way)
            text = " ".join(texts)
            wer, count = word_error_rate(item.reference, text), len(item.reference.split())
            finals = [w for t in texts for w in normalise(t)]
            drops = dropped_phrases(spoken, finals, normalise(item.reference))
            total = totals[way]
            total[0] += wer * count
            total[1] += count
            total[2] += len(drops)
            total[3] += seconds
            said = "; ".join(" ".join(w.text for w in d) for d in drops)
            row.append(f"{way} {wer:6.1%} {len(drops)} drop {seconds:5.1f} s {said}")
        print(f"{item.id:<24} {len(spans):3} utt  " + "  |  ".join(row), flush=True)
    for way, (errors, words, drops, seconds) in totals.items():
        print(f"{'all':<24} {way:<12} WER {errors / words:6.1%}  dropped {drops}  "
              f"decode {seconds:6.1f} s")  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
