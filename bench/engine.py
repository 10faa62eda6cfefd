"""Embedded engine benchmark (issue 10): streaming captions of recorded speech, measured
against an offline pass of the same Whisper model over the whole recording.

For each corpus item (tests/corpus/, or with ``--heldout`` the recordings held out from tuning in
tests/corpus/heldout/, or with ``--clips`` the short held-out clips of tests/corpus/clips/; each
in its own language and its own session), or ``--file``:

offline pass   the engine's model (captions.engines.offline.model.load_model) on the whole file:
               beam 5, word timestamps, no VAD, conditioned on previous text. Its WER against
               the corpus reference, and its word times: the yardstick for when words were said.
streaming      the item fed at speaking pace through ``get_engine().start_session``: 100 ms
               frames on a fixed schedule, frame k sent at stream time (k + 1) * 0.1 s, when a
               microphone would have it complete (stream time 0 is when its first sample was
               spoken, so stream time = wall time and the engine's own offsets share the clock).
               Each result is kept with its arrival time. Once per presenter count (2 presenters
               speak the same item at once through the one engine of the process).

Columns (definitions in bench/speech_metrics.py, which computes them):
  WER off / str   offline WER; WER of the streaming finals' texts joined (an engine revision
                  replacing its final's text: listed as "revised" below the table), both against the
                  reference, over all items (reference words weighted). Target: str <= off + 1.
  drop            dropped phrases: maximal runs of >= 2 offline words that no final contains
                  (one SequenceMatcher alignment of normalised words) and of which >= 2 words
                  align with the reference too; listed below the table with their times.
  edge            lost edges: a recording's first or last spoken word (the first and last
                  offline words that align with the reference) that no final contains;
                  listed below the table. The measure of ``--clips``, where every session
                  is one short clip that ends when its audio does.
  last→final      per final: arrival - offline end of its last word that aligned to an offline
                  word (same alignment); p50/p95 over all finals of all items and presenters.
  onset→text      per stretch of speech (offline words separated by >= 0.5 s of silence, the
                  first word included): arrival of the first caption, partial or final, that
                  contains a word of the stretch (its words aligned to the offline words inside
                  its stream span +- 0.5 s) - the stretch's first word's offline start; p50/p95;
                  "miss" counts stretches no caption ever contained.
  rev/2s          partials whose normalised text does not extend the previous partial of their
                  segment, per 2 s of speech (speech = the stretches' summed spans).
  RTF             wall time of all items fed as fast as possible (all presenters at once) over
                  one presenter's audio duration: under 1 keeps up.
  cpu/s           CPU seconds of the engine's process per audio second per presenter, at pace.
Silence check: 60 s of digital silence and the corpus's non-speech items, at pace, one presenter:
the count of results with text must be 0.

The engine runs in a subprocess (this file with ``--worker TREE``: it imports ``captions`` from
TREE and only streams audio files, writing the results as JSON; the metrics are computed here).
``--baseline-tree PATH`` runs another checkout's engine through the same worker and prints it
beside, e.g. the engine before a change (``--tree PATH`` replaces this checkout's engine);
``--engine`` / ``--baseline-engine`` name an engine class by dotted path instead of
``get_engine()``, e.g. whisper_streaming's LocalAgreement-2 (bench/local_agreement.py):

    git worktree add /tmp/engine-before <commit>
    python bench/engine.py --baseline-tree /tmp/engine-before
    python bench/engine.py --items en-native-lj-printing --presenters 1   # a quick look
    python bench/engine.py --presenters 1 --no-fast --slowest 10         # where the tail is
    python bench/engine.py --file talk.wav --reference "what was said"    # any recording
    python bench/engine.py --generated                                     # Piper speech
    python bench/engine.py --clips --pauses 1.2     # phrases alone between 1.2 s pauses
    python bench/engine.py --baseline-engine bench.local_agreement.LocalAgreementEngine
    python bench/engine.py --baseline-tree /tmp/engine-before --repeat 3 --presenters 1

``--repeat N`` streams everything N times per tree, the trees taking turns to go first (A B,
B A, A B...), and pools each tree's repeats in its table, with each repeat's main figures
below it: the same code's last word → final p50 moved by 0.12 s between two runs here
(2026-12-06), more than most changes move it, so one run per tree decides little.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FRAME = 1600  # samples: 100 ms
RATE = 16000
SILENCE_SECONDS = 60
PAUSE_FLOOR = 0.15  # seconds between two words that make a pause (``stretch_pauses``)
SENTENCES = [
    "Good morning everyone, and thank you for coming to this talk.",
    "Today I want to show you how we caption live presentations.",
    "The speech is recognized on our own server, without any cloud service.",
    "Each listener reads the talk in their own language on their phone.",
    "Let us look at the numbers we measured on a small machine.",
    "Thank you, and I am happy to take your questions now.",
]


# ------------------------------------------------------------------ streaming (the worker)


async def stream(engine, config, samples: np.ndarray, realtime: bool) -> list[list]:
    """Feed PCM16 ``samples`` through one session; return its results with arrival times.

    Each result is ``[kind, arrival, segment, text, start, end]`` (kind "partial", "final",
    "revision" or "notice"); arrival is in stream seconds (see the module docstring).
    """
    session = await engine.start_session(config)
    events: list[list] = []
    origin = time.monotonic() - 0.1  # the first frame is complete 100 ms after its first sample

    async def feed() -> None:
        for index, start in enumerate(range(0, len(samples), FRAME)):
            delay = origin + (index + 1) * 0.1 - time.monotonic()
            if realtime and delay > 0:
                await asyncio.sleep(delay)
            await session.send_audio(samples[start : start + FRAME].tobytes())
        await session.finish()

    feeder = asyncio.create_task(feed())
    async for result in session.results():
        events.append(event_row(result, time.monotonic() - origin))
    await feeder
    await session.close()
    return [e for e in events if e is not None]


def event_row(result, arrival: float) -> list | None:
    """A result as a JSON row; speech clips are left out."""
    if hasattr(result, "source_text"):
        kind = "final" if result.is_final else "partial"
        kind = "revision" if getattr(result, "is_revision", False) else kind
        return [kind, arrival, result.segment_id, result.source_text, result.start, result.end]
    if hasattr(result, "kind"):
        return ["notice", arrival, "", str(result.kind.value), 0.0, 0.0]
    return None


async def stream_round(engine, items: list[dict], targets, presenters: int, realtime: bool):
    """Every item through ``presenters`` sessions at once; item after item."""
    runs = []
    for item in items:
        samples = np.fromfile(item["pcm"], dtype="<i2")
        config = session_config(item["language"], targets)
        together = [stream(engine, config, samples, realtime) for _ in range(presenters)]
        for presenter, events in enumerate(await asyncio.gather(*together)):
            runs.append({"item": item["id"], "presenter": presenter, "events": events})
    return runs


def session_config(language: str, targets):
    from captions.engines.base import SessionConfig

    return SessionConfig(language, tuple(t for t in targets if t != language))


def audio_seconds(items: list[dict]) -> float:
    return sum(os.path.getsize(item["pcm"]) / 2 / RATE for item in items)


async def run_job(job: dict) -> dict:
    """The worker's whole run: warm-up, each presenter count at pace and fast, the checks."""
    from django.utils.module_loading import import_string

    from captions.engines import get_engine

    engine = import_string(job["engine"])() if job.get("engine") else get_engine()
    items, targets = job["items"], job["targets"]
    warm = np.fromfile(items[0]["pcm"], dtype="<i2")[: RATE * 3]
    await stream(engine, session_config(items[0]["language"], targets), warm, False)
    rounds = []
    for presenters in job["presenters"]:
        cpu = time.process_time()
        runs = await stream_round(engine, items, targets, presenters, True)
        cpu = time.process_time() - cpu
        wall = time.monotonic()
        if job["fast"]:
            await stream_round(engine, items, targets, presenters, False)
        rtf = (time.monotonic() - wall) / audio_seconds(items) if job["fast"] else float("nan")
        per_audio = cpu / (audio_seconds(items) * presenters)
        rounds.append({"presenters": presenters, "runs": runs, "cpu": per_audio, "rtf": rtf})
        progress(f"{presenters} presenter(s) done")
    checks = await stream_round(engine, job["checks"], targets, 1, True)
    return {"engine": type(engine).__name__, "rounds": rounds, "checks": checks}


def worker(tree: Path, job_file: Path) -> None:
    """Run a job with ``captions`` imported from ``tree``; write the results beside the job."""
    sys.path.insert(0, str(tree))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")
    import django

    django.setup()
    quiet()
    job = json.loads(job_file.read_text())
    Path(job["out"]).write_text(json.dumps(asyncio.run(run_job(job))))


def quiet() -> None:
    """No log line per decode, unless BENCH_TRACE=1 asks for the session's trace (stderr)."""
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    if os.environ.get("BENCH_TRACE"):
        logging.getLogger("captions.engines.offline.session").setLevel(logging.DEBUG)


def progress(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ inputs


@dataclass
class Item:
    """A recording to measure and the words spoken in it (None: unknown; "": no speech)."""

    id: str
    language: str
    reference: str | None
    audio: np.ndarray  # float32, 16 kHz mono

    @property
    def speech(self) -> bool:
        return self.reference != ""

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE


def corpus_items(ids: list[str], manifest: Path) -> list[Item]:
    from tests import corpus

    chosen = [i for i in corpus.load_manifest(manifest) if not ids or i.id in ids]
    missing = set(ids) - {i.id for i in chosen}
    if missing:
        raise SystemExit(f"not in {manifest.relative_to(ROOT)}: {', '.join(sorted(missing))}")
    return [Item(i.id, i.language, i.reference, corpus.audio(i)) for i in chosen]


def file_item(path: Path, language: str, reference: str | None) -> Item:
    from faster_whisper.audio import decode_audio

    return Item(path.stem, language, reference, decode_audio(str(path), sampling_rate=RATE))


def generated_item() -> Item:
    from tests.whisper_speech import FIXTURES, speech_wav

    target = FIXTURES / "bench-talk.wav"
    if not target.exists():
        parts = [str(speech_wav(s, pad=(0.2, 1.2))) for s in SENTENCES]
        subprocess.run(["sox", *parts, str(target)], check=True)
    return file_item(target, "en", " ".join(SENTENCES))


def choose_items(args) -> list[Item]:
    if args.file:
        return [file_item(args.file, args.source, args.reference)]
    if args.generated:
        return [generated_item()]
    from tests import corpus

    manifest = corpus.MANIFEST
    if args.heldout or args.clips:
        manifest = corpus.HELDOUT_MANIFEST if args.heldout else corpus.CLIPS_MANIFEST
    return corpus_items([i for i in args.items.split(",") if i], manifest)


def stretch_pauses(
    audio: np.ndarray, words: list, seconds: float, shortest: float = PAUSE_FLOOR, seed: int = 0
) -> np.ndarray:
    """``audio`` with every pause between two words lengthened to ``seconds`` (a longer one
    stays as it is).

    ``words`` are the offline pass's (with start and end times); a gap of at least
    ``shortest`` between two of them is a pause (a breath between phrases, not the gap
    inside a word). Quiet noise at about -65 dBFS (the level of the corpus's inserted gaps)
    goes in at the gap's middle, where the speaker is silent. A read sentence then sounds
    like an orator's: short phrases alone between long pauses.
    """
    rng = np.random.default_rng(seed)
    pieces, taken = [], 0
    for before, after in zip(words, words[1:], strict=False):
        gap = after.start - before.end
        if gap < shortest or gap >= seconds:
            continue
        middle = int((before.end + gap / 2) * RATE)
        pieces += [
            audio[taken:middle],
            rng.normal(0, 10 ** (-65 / 20), int((seconds - gap) * RATE)),
        ]
        taken = middle
    return np.concatenate([*pieces, audio[taken:]]).astype(np.float32)


def with_long_pauses(model, items: list[Item], seconds: float) -> list[Item]:
    """Each speech item with its pauses stretched to ``seconds`` (``--pauses``)."""
    stretched = []
    for item in items:
        if item.speech:
            _, words = offline_pass(model, item)
            item = Item(
                item.id, item.language, item.reference, stretch_pauses(item.audio, words, seconds)
            )
        stretched.append(item)
    return stretched


def write_pcm(item: Item, directory: Path) -> dict:
    path = directory / f"{item.id}.pcm"
    (np.clip(item.audio, -1, 1) * 32767).astype("<i2").tofile(path)
    return {"id": item.id, "language": item.language, "pcm": str(path)}


# ------------------------------------------------------------------ the offline pass


def load_whisper():
    """The engine's model, from wherever the offline package lives in this checkout.

    While that package is being rewritten it may not import: then the joined packaged
    weights in the var directory (what load_model would load) are loaded directly.
    """
    for module in ("captions.engines.offline.model", "captions.engines.whisper.model"):
        try:
            return importlib.import_module(module).load_model()
        except ImportError as exc:
            progress(f"{module}: {exc}")
    from django.conf import settings
    from faster_whisper import WhisperModel

    path = Path(settings.VAR_DIR) / "models" / "whisper-base"
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=os.cpu_count())


def offline_pass(model, item: Item) -> tuple[str, list]:
    """The whole recording at once: its text and its normalised words with times."""
    from bench.speech_metrics import timed_words

    segments, _ = model.transcribe(
        item.audio,
        language=item.language,
        beam_size=5,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=True,
    )
    segments = list(segments)
    # In the script the item's language code asks for, as the engine writes it: Whisper
    # often writes traditional Chinese for ``zh``, which the engine turns into simplified.
    from captions.engines.offline.script import to_script

    def script(text: str) -> str:
        return to_script(text, item.language)

    pieces = [(script(w.word), w.start, w.end) for s in segments for w in (s.words or [])]
    return script(" ".join(s.text.strip() for s in segments)), timed_words(pieces)


# ------------------------------------------------------------------ measures


@dataclass
class Offline:
    """An item's offline pass: its words with times, and the reference's words if known."""

    item: Item
    text: str
    words: list
    reference: list[str] | None


@dataclass
class Tally:
    """The measures of one presenter count, summed over its runs."""

    errors: int = 0
    reference_words: int = 0
    dropped: list = field(default_factory=list)  # (run label, [Word, ...])
    edges: list = field(default_factory=list)  # (run label, "start" | "end", Word)
    last_word: list[float] = field(default_factory=list)
    onset: list[float] = field(default_factory=list)
    missed: int = 0
    unmatched_finals: int = 0
    revisions: int = 0
    corrections: list = field(default_factory=list)  # (run label, seconds after the final, text)
    speech: float = 0.0
    per_item: dict = field(default_factory=dict)  # item id -> [errors, reference words]


def shown(events: list[list]) -> list:
    from bench.speech_metrics import Shown

    return [
        Shown(t, text, start, end, final=kind == "final", segment=segment)
        for kind, t, segment, text, start, end in events
        if kind in ("partial", "final")
    ]


def tally_run(tally: Tally, offline: Offline, events: list[list], label: str) -> None:
    """Add one streamed run of ``offline.item`` to ``tally``."""
    from bench import speech_metrics as m

    captions = shown(events)
    finals = [c for c in captions if c.final]
    # The transcript as it ends: an engine revision replaces its final's text (review.py).
    revised = {segment: (t, text) for kind, t, segment, text, *_ in events if kind == "revision"}
    for final in finals:
        if final.segment in revised:
            t, text = revised[final.segment]
            tally.corrections.append((label, t - final.arrival, f"{final.text!r} -> {text!r}"))
    words = m.normalise(" ".join(revised.get(f.segment, (0, f.text))[1] for f in finals))
    if offline.reference is not None:
        errors = m.word_errors(offline.reference, words)
        tally.errors += errors
        tally.reference_words += len(offline.reference)
        counts = tally.per_item.setdefault(offline.item.id, [0, 0])
        counts[0] += errors
        counts[1] += len(offline.reference)
    for phrase in m.dropped_phrases(offline.words, words, offline.reference):
        tally.dropped.append((label, phrase))
    if offline.reference is not None:
        for edge, word in m.lost_edges(offline.words, words, offline.reference):
            tally.edges.append((label, edge, word))
    latencies, unmatched = m.final_latencies(offline.words, finals)
    tally.last_word += latencies
    tally.unmatched_finals += unmatched
    onsets, missed = m.onset_latencies(offline.words, captions)
    tally.onset += onsets
    tally.missed += missed
    tally.revisions += m.revisions(c for c in captions if not c.final)
    tally.speech += m.speech_seconds(offline.words)


def offline_wer(offlines: list[Offline]) -> float:
    from bench import speech_metrics as m

    known = [o for o in offlines if o.reference is not None]
    errors = sum(m.word_errors(o.reference, m.normalise(o.text)) for o in known)
    return errors / max(1, sum(len(o.reference) for o in known)) if known else float("nan")


def percent(errors: int, words: int) -> str:
    return f"{100 * errors / words:5.1f}%" if words else "   n/a"


def p50_95(values: list[float]) -> str:
    from bench.speech_metrics import percentile

    return f"{percentile(values, 50):5.2f} / {percentile(values, 95):5.2f}"


HEADER = (
    " pres  WER off  WER str  drop  edge  last→final p50/p95  onset→text p50/p95 miss"
    "  rev/2s   RTF  cpu/s  finals unmatched"
)


def run_label(run: dict) -> str:
    """Which presenter's stream of which item, and in which repeat if there were several."""
    repeat = f" r{run['repeat'] + 1}" if "repeat" in run else ""
    return f"#{run['presenter'] + 1}{repeat} {run['item']}"


def tally_round(round_: dict, offlines: dict[str, Offline]) -> Tally:
    tally = Tally()
    for run in round_["runs"]:
        label = f"{round_['presenters']}p {run_label(run)}"
        tally_run(tally, offlines[run["item"]], run["events"], label)
    return tally


def report_round(round_: dict, offlines: dict[str, Offline], wer_off: float) -> Tally:
    """Print one presenter count's row; return its tally for the listings below the table."""
    tally = tally_round(round_, offlines)
    revisions = tally.revisions / (tally.speech / 2) if tally.speech else float("nan")
    print(
        f" {round_['presenters']:>4}  {100 * wer_off:5.1f}%   "
        f"{percent(tally.errors, tally.reference_words)}  {len(tally.dropped):>4}  "
        f"{len(tally.edges):>4}  "
        f"{p50_95(tally.last_word):>18}  {p50_95(tally.onset):>18} {tally.missed:>4}  "
        f"{revisions:6.2f}  {round_['rtf']:5.2f}  {round_['cpu']:5.2f}  "
        f"{len(tally.last_word) + tally.unmatched_finals:>6} {tally.unmatched_finals:>9}",
        flush=True,
    )
    return tally


def slowest_finals(round_: dict, offlines: dict[str, Offline], count: int) -> list[str]:
    """The ``count`` finals of a round that came latest after their last word, as lines."""
    from bench import speech_metrics as m

    rows = []
    for run in round_["runs"]:
        spoken = offlines[run["item"]].words
        finals = [c for c in shown(run["events"]) if c.final]
        for index, word in m.last_matched_words(spoken, finals).items():
            final = finals[index]
            late = final.arrival - spoken[word].end
            rows.append((late, run_label(run), final))
    rows.sort(key=lambda row: -row[0])
    return [
        f"  slow     {round_['presenters']}p {label:<30} +{late:4.2f} s at {final.arrival:6.1f} s  "
        f"{final.text[-60:]}"
        for late, label, final in rows[:count]
    ]


def slowest_onsets(round_: dict, offlines: dict[str, Offline], count: int) -> list[str]:
    """The ``count`` stretches of speech of a round whose first text came latest, as lines."""
    from bench import speech_metrics as m

    rows = []
    for run in round_["runs"]:
        spoken = offlines[run["item"]].words
        for stretch, first in m.first_showing(spoken, shown(run["events"])):
            if first is not None:
                onset = spoken[stretch[0]]
                said = " ".join(w.text for w in spoken[stretch[0] : stretch[0] + 4])
                late = first.arrival - onset.start
                rows.append((late, run_label(run), onset.start, said))
    rows.sort(key=lambda row: -row[0])
    return [
        f"  onset    {round_['presenters']}p {label:<30} +{late:4.2f} s at {at:6.1f} s  {said}"
        for late, label, at, said in rows[:count]
    ]


def report(name: str, result: dict, offlines: dict[str, Offline], slowest: int = 0) -> None:
    """Print a tree's table, its dropped phrases, its slowest finals and onsets and its
    silence check."""
    print(f"\n{name} ({result['engine']})")
    print(HEADER)
    wer_off = offline_wer([o for o in offlines.values() if o.item.speech])
    tallies = [report_round(r, offlines, wer_off) for r in result["rounds"]]
    for round_, tally in zip(result["rounds"], tallies, strict=True):
        wers = (
            f"{item} {100 * offline_wer([offlines[item]]):.1f}% -> {percent(*counts).strip()}"
            for item, counts in tally.per_item.items()
        )
        print(f"  WER off -> str, {round_['presenters']}p:  " + ";  ".join(wers))
    for round_ in result["rounds"]:
        if len(round_.get("repeats", [])) > 1:
            print(
                f"  each repeat, {round_['presenters']}p:  "
                + ";  ".join(repeat_figures(r, offlines) for r in round_["repeats"])
            )
    for tally in tallies:
        for label, phrase in tally.dropped:
            words = " ".join(w.text for w in phrase)
            print(f"  dropped  {label}  {phrase[0].start:6.1f}-{phrase[-1].end:6.1f} s  {words}")
        for label, edge, word in tally.edges:
            print(f"  lost {edge:<5} {label}  {word.start:6.1f}-{word.end:6.1f} s  {word.text}")
        for label, after, change in tally.corrections:
            print(f"  revised  {label}  {after:5.1f} s after its final: {change}")
    for round_ in result["rounds"]:
        for line in slowest_finals(round_, offlines, slowest):
            print(line)
        for line in slowest_onsets(round_, offlines, slowest):
            print(line)
    for run in result["checks"]:
        with_text = [e for e in run["events"] if e[0] != "notice" and e[3].strip()]
        texts = "; ".join(e[3] for e in with_text[:5])
        print(f"  silence check  {run['item']}: {len(with_text)} results with text  {texts}")


def repeat_figures(round_: dict, offlines: dict[str, Offline]) -> str:
    """One repeat's WER, last word -> final and onset p50 / p95, CPU: its spread, in a line."""
    tally = tally_round(round_, offlines)
    return (
        f"WER {percent(tally.errors, tally.reference_words).strip()}, "
        f"final {p50_95(tally.last_word).replace(' ', '')}, "
        f"onset {p50_95(tally.onset).replace(' ', '')}, cpu {round_['cpu']:.2f}"
    )


def offline_section(model, items: list[Item]) -> dict[str, Offline]:
    """Run and print the offline pass of every item."""
    from bench import speech_metrics as m

    print("\noffline pass (same model, whole file, beam 5)")
    print(f"  {'item':<28} lang  audio s  words  WER   decode s")
    offlines = {}
    for item in items:
        started = time.monotonic()
        text, words = offline_pass(model, item)
        reference = m.normalise(item.reference) if item.reference is not None else None
        offline = Offline(item, text, words, reference)
        offlines[item.id] = offline
        wer = offline_wer([offline]) if item.speech else float(len(words))
        shown_wer = f"{100 * wer:5.1f}%" if item.speech else f"{int(wer)} words heard"
        print(
            f"  {item.id:<28} {item.language:<4} {item.seconds:7.1f}  {len(words):5}  "
            f"{shown_wer}  {time.monotonic() - started:6.1f}",
            flush=True,
        )
    return offlines


# ------------------------------------------------------------------ the run


def run_tree(tree: Path, job: dict, directory: Path, name: str, engine: str | None) -> dict:
    """Stream the job through the engine of ``tree`` (or the class ``engine``) in a worker."""
    job = {**job, "engine": engine, "out": str(directory / f"{name}.json")}
    job_file = directory / f"{name}-job.json"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "presenter_site.settings"}
    if tree != ROOT:
        # Share this checkout's joined model cache (and secret key) rather than rebuild them.
        from django.conf import settings

        env.setdefault("CAPTIONS_VAR_DIR", str(settings.VAR_DIR))
    progress(f"streaming through {tree}")
    command = [sys.executable, __file__, "--worker", str(tree), str(job_file)]
    subprocess.run(command, check=True, env=env, cwd=tree)
    return json.loads(Path(job["out"]).read_text())


def run_order(trees: int, repeat: int) -> list[tuple[int, int]]:
    """(repeat, tree) in the order they stream: each repeat the trees take turns to go first,
    so that a machine growing busier or quieter during the run favours none of them."""
    order = []
    for r in range(repeat):
        turn = range(trees) if r % 2 == 0 else reversed(range(trees))
        order += [(r, tree) for tree in turn]
    return order


def pooled(results: list[dict]) -> dict:
    """One tree's repeated results as one: each presenter count's runs together (each run
    marked with its repeat), CPU and real-time factor averaged, every repeat's silence checks,
    and the repeats themselves (``repeats``) for their spread."""
    if len(results) == 1:
        return results[0]
    rounds: dict[int, dict] = {}
    for repeat, result in enumerate(results):
        for round_ in result["rounds"]:
            merged = rounds.setdefault(
                round_["presenters"],
                {"presenters": round_["presenters"], "runs": [], "repeats": []},
            )
            merged["runs"] += [{**run, "repeat": repeat} for run in round_["runs"]]
            merged["repeats"].append(round_)
    for merged in rounds.values():
        for key in ("cpu", "rtf"):
            merged[key] = sum(r[key] for r in merged["repeats"]) / len(merged["repeats"])
    checks = [check for result in results for check in result["checks"]]
    return {"engine": results[0]["engine"], "rounds": list(rounds.values()), "checks": checks}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min averages; {os.cpu_count()} cores)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="one recording instead of the corpus")
    parser.add_argument("--reference", help="what is said in --file (for WER)")
    parser.add_argument("--source", default="en", help="the language of --file")
    parser.add_argument("--corpus", action="store_true", help="the corpus (the default)")
    parser.add_argument("--items", default="", help="corpus item ids, comma-separated")
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument(
        "--heldout", action="store_true", help="the held-out recordings (tests/corpus/heldout/)"
    )
    held_out.add_argument(
        "--clips", action="store_true", help="the short held-out clips (tests/corpus/clips/)"
    )
    parser.add_argument("--generated", action="store_true", help="Piper speech, no corpus")
    parser.add_argument(
        "--pauses",
        type=float,
        default=0.0,
        help="seconds: lengthen every pause between words (>= 0.15 s) to this, as an orator's",
    )
    parser.add_argument("--targets", default="es,pt,ca")
    parser.add_argument("--presenters", default="1,2")
    parser.add_argument("--no-fast", action="store_true", help="skip the real-time-factor run")
    parser.add_argument("--silence", type=float, default=SILENCE_SECONDS, help="seconds; 0: none")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose engine runs")
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to run beside")
    parser.add_argument("--engine", help="dotted path of an engine class instead of get_engine()")
    parser.add_argument("--baseline-engine", help="an engine class to run beside (--baseline-tree)")
    parser.add_argument("--keep", type=Path, help="write the raw results (JSON) here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="stream N times per tree, turns alternating"
    )
    parser.add_argument("--slowest", type=int, default=0, help="list the N latest finals, onsets")
    parser.add_argument("--worker", nargs=2, metavar=("TREE", "JOB"), help=argparse.SUPPRESS)
    return parser.parse_args()


def make_job(items: list[Item], args, directory: Path) -> dict:
    speech = [write_pcm(i, directory) for i in items if i.speech]
    checks = [write_pcm(i, directory) for i in items if not i.speech]
    if args.silence:
        samples = np.zeros(int(args.silence * RATE), dtype=np.float32)
        silent = Item(f"silence-{args.silence:g}s", items[0].language, "", samples)
        checks.append(write_pcm(silent, directory))
    return {
        "items": speech,
        "checks": checks,
        "targets": [t for t in args.targets.split(",") if t],
        "presenters": [int(p) for p in args.presenters.split(",")],
        "fast": not args.no_fast,
    }


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(Path(args.worker[0]).resolve(), Path(args.worker[1]))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")
    import django

    django.setup()
    quiet()
    items = choose_items(args)
    speech = [i for i in items if i.speech]
    if not speech:  # the engine warms up on speech, and the measures are over speech
        raise SystemExit("no speech item chosen: add one to --items (the silence check follows)")
    print(
        f"{len(speech)} speech items ({sum(i.seconds for i in speech):.0f} s), "
        f"{len(items) - len(speech)} without speech, + {args.silence:g} s of silence; "
        f"targets {args.targets}; {os.cpu_count()} cores; the engine runs in a subprocess"
    )
    print(f"machine load before: {load()}")
    model = load_whisper()
    if args.pauses:
        items = with_long_pauses(model, items, args.pauses)
        print(f"every pause between words (>= {PAUSE_FLOOR} s) lengthened to {args.pauses:g} s")
    offlines = offline_section(model, items)
    with tempfile.TemporaryDirectory(prefix="engine-bench-") as tmp:
        tmp = args.keep or tmp
        Path(tmp).mkdir(parents=True, exist_ok=True)
        job = make_job(items, args, Path(tmp))
        trees = [(f"engine of {args.tree}", args.tree.resolve(), args.engine)]
        if args.baseline_tree or args.baseline_engine:
            baseline = args.baseline_tree or args.tree
            trees.append((f"baseline {baseline}", baseline.resolve(), args.baseline_engine))
        runs: dict[int, list[dict]] = {i: [] for i in range(len(trees))}
        for repeat, i in run_order(len(trees), max(1, args.repeat)):
            name, tree, engine = trees[i]
            label = f"t{i}" if args.repeat <= 1 else f"t{i}-r{repeat + 1}"
            runs[i].append(run_tree(tree, job, Path(tmp), label, engine))
    for i, (name, _, _) in enumerate(trees):
        report(name, pooled(runs[i]), offlines, args.slowest)
    print(f"\nmachine load after: {load()}")


if __name__ == "__main__":
    main()
