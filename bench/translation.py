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

from captions.translate import Router  # noqa: E402
from captions.translate.apertium import ApertiumTranslator  # noqa: E402
from captions.translate.bergamot import BergamotTranslator  # noqa: E402
from captions.tts.espeak import EspeakSynthesizer  # noqa: E402
from captions.tts.piper import PiperSynthesizer  # noqa: E402
from captions.tts.wav import duration  # noqa: E402

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
SPANISH = [
    "Bienvenidos a la conferencia de este año sobre software libre.",
    "Hoy voy a hablar de cómo traducimos los subtítulos para el público.",
]


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
        f"{name:<30} first {times[0]:7.1f} ms   median {statistics.median(warm):6.1f} ms"
        f"   p95 {p95:6.1f} ms  {extra}"
    )


def apertium_command(sentence: str) -> None:
    """Translate with one `apertium` process, the way a naive backend would."""
    subprocess.run(["apertium", "-u", "eng-spa"], input=sentence.encode(), capture_output=True)


def pivot_only(router: Router, source: str, target: str) -> Callable[[str], str]:
    """Return a call that goes through English even where a direct pair exists."""
    legs = router._pivoted("en")[(source, target)]
    return lambda text: router._run(legs, text)


def translation_cases(rounds: int) -> None:
    """Time each translation route."""
    apertium, bergamot = ApertiumTranslator(), BergamotTranslator()
    router = Router([bergamot, apertium])
    cases = [
        ("apertium en-es", ENGLISH, lambda t: router.translate(t, "en", "es")),
        ("bergamot en-pt", ENGLISH, lambda t: router.translate(t, "en", "pt")),
        ("bergamot pt-en", PORTUGUESE, lambda t: router.translate(t, "pt", "en")),
        ("pivot pt-es (berg+apert)", PORTUGUESE, pivot_only(router, "pt", "es")),
        ("router pt-es (as routed)", PORTUGUESE, lambda t: router.translate(t, "pt", "es")),
        ("router es-pt (as routed)", SPANISH, lambda t: router.translate(t, "es", "pt")),
        ("pivot en-fr (apert+apert)", ENGLISH, lambda t: router.translate(t, "en", "fr")),
        ("apertium command en-es", ENGLISH, apertium_command),
    ]
    for name, sentences, call in cases:
        report(name, measure(call, sentences, rounds))
    glossary = {"open source": {"es": "código abierto"}, "captions": {}}
    call = lambda t: router.translate(t, "en", "es", glossary=glossary)  # noqa: E731
    report("apertium en-es + glossary", measure(call, ENGLISH, rounds))
    apertium.close()


def speech_cases(rounds: int) -> None:
    """Time each speech-output backend and its real-time factor."""
    cases = [("espeak es", EspeakSynthesizer(), SPANISH, "es")]
    piper = PiperSynthesizer()
    if piper.languages():
        cases.append(("piper en", piper, ENGLISH, "en"))
    for name, synthesizer, sentences, language in cases:
        seconds: list[float] = []

        def call(text: str, synthesizer=synthesizer, language=language, seconds=seconds) -> None:
            seconds.append(duration(synthesizer.synthesize(text, language)[0]))

        times = measure(call, sentences, rounds)
        rtf = statistics.median(times[1:]) / 1000 / statistics.median(seconds[1:])
        report(name, times, f"real-time factor {rtf:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    translation_cases(rounds)
    speech_cases(rounds)


if __name__ == "__main__":
    main()
