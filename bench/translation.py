"""Per-sentence latency of each translation and speech-output backend.

    python bench/translation.py            # 20 sentences per case
    python bench/translation.py --rounds 5

Prints the first call (which loads models or starts pipelines) apart from the
median and 95th percentile of the warm calls, and the cost of one `apertium`
command per sentence for comparison with the warm pipelines.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captions.engines.offline.speech import SpeechRouter, build_synthesizer  # noqa: E402
from captions.engines.offline.speech.wav import duration  # noqa: E402
from captions.engines.offline.translation import build_router  # noqa: E402
from captions.engines.offline.translation.router import Router  # noqa: E402

ENGLISH = [
    "Welcome everyone to this year's conference on open source software.",
    "Today I will talk about how we translate captions for the audience.",
    "The first part of the talk covers speech recognition on small machines.",
    "Please keep your questions until the end of the session.",
]
PORTUGUESE = [
    "Bem-vindos à conferência deste ano sobre software livre.",
    "Hoje vou falar sobre como traduzimos legendas para o público.",
    "A primeira parte da palestra trata do reconhecimento de fala.",
    "Por favor, guardem as perguntas para o final da sessão.",
]
SPANISH = ["Bienvenidos a la conferencia de este año sobre software libre."]


def measure(call: Callable[[str], object], sentences: list[str], rounds: int) -> list[float]:
    """Return milliseconds per call, the first (cold) call first."""
    times = []
    for index in range(rounds):
        started = time.perf_counter()
        call(sentences[index % len(sentences)])
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float], extra: str = "") -> None:
    """Print one line: cold call, then warm median and p95."""
    warm = sorted(times[1:]) or times
    p95 = warm[min(len(warm) - 1, int(len(warm) * 0.95))]
    print(
        f"{name:<28} first {times[0]:7.1f} ms   median {statistics.median(warm):6.1f} ms"
        f"   p95 {p95:6.1f} ms  {extra}"
    )


def apertium_command(sentence: str) -> None:
    """Translate with one `apertium` process, the way a naive backend would."""
    subprocess.run(["apertium", "-u", "eng-spa"], input=sentence.encode(), capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    router = Router(build_router().backends, cache_size=0)  # measure backends, not the cache
    cases = [
        (ENGLISH, "en", "es"),
        (ENGLISH, "en", "pt"),
        (PORTUGUESE, "pt", "en"),
        (PORTUGUESE, "pt", "es"),
        (PORTUGUESE, "pt", "ca"),
        (SPANISH, "es", "pt"),
        (ENGLISH, "en", "fr"),
    ]
    for sentences, source, target in cases:
        if (source, target) not in router.pairs():
            print(f"{source}-{target:<27} not installed")
            continue
        # The label names the route actually taken: a direct pair, or the legs of a pivot.
        legs = router.route(source, target)
        name = f"{source}-{target} " + "+".join(f"{leg.backend.name}" for leg in legs)

        def translate(text: str, source: str = source, target: str = target) -> str:
            return router.translate(text, source, target)

        report(name, measure(translate, sentences, rounds))
    report("apertium command en-es", measure(apertium_command, ENGLISH, min(rounds, 5)))
    router.close()
    for audio_format in ("wav", "mp3"):
        speech(build_synthesizer(audio_format), audio_format, rounds)


def speech(synthesizer: SpeechRouter, audio_format: str, rounds: int) -> None:
    """Report synthesis latency, audio size and (for WAV) real-time factor per backend."""
    for name, sentences, language in [("espeak es", SPANISH, "es"), ("piper en", ENGLISH, "en")]:
        outputs: list[bytes] = []

        def speak(text: str, language: str = language, outputs: list = outputs) -> None:
            outputs.append(synthesizer.synthesize(text, language)[0])

        times = measure(speak, sentences, min(rounds, 8))
        notes = f"{statistics.median(map(len, outputs)) / 1000:.0f} kB a sentence"
        if audio_format == "wav":
            rtf = sum(times[1:]) / 1000 / sum(duration(audio) for audio in outputs[1:])
            notes += f", RTF {rtf:.3f}"
        backend = synthesizer.backend_for(language).name
        report(f"{name} ({backend}, {audio_format})", times, notes)


if __name__ == "__main__":
    main()
