"""Subtitle an audio or video file with the configured engine, one file per language.

python manage.py caption talk.mp4 --from en --to es,pt --format srt
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from captions import exports
from captions.engines import get_engine
from captions.engines.base import SAMPLE_RATE, CaptionResult, EngineError, SessionConfig

FRAME_SAMPLES = SAMPLE_RATE // 10  # 100 ms, as the presenter page sends
FORMATS = ("srt", "vtt", "json", "txt")


@dataclass(frozen=True)
class Line:
    """One final caption in one language, shaped as captions.exports expects."""

    seq: int
    text: str
    start: float
    end: float


def decode_file(path: Path) -> np.ndarray:
    """Any file PyAV (ffmpeg) can read, as 16 kHz mono PCM16 samples."""
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises many kinds for unreadable input
        raise CommandError(f"cannot decode {path}: {exc}") from exc
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


async def caption_audio(samples: np.ndarray, config: SessionConfig, realtime: bool, progress):
    """Stream ``samples`` through one engine session; return its final captions in order."""
    session = await get_engine().start_session(config)
    finals: list[CaptionResult] = []

    async def feed() -> None:
        started = time.monotonic()
        for index, start in enumerate(range(0, len(samples), FRAME_SAMPLES)):
            frame = samples[start : start + FRAME_SAMPLES]
            await session.send_audio(frame.tobytes())
            progress.update(len(frame) / SAMPLE_RATE)
            pause = started + (index + 1) * 0.1 - time.monotonic() if realtime else 0.0
            await asyncio.sleep(max(0.0, pause))
        await session.finish()

    feeder = asyncio.create_task(feed())
    async for result in session.results():
        if not isinstance(result, CaptionResult) or not result.source_text:
            continue
        if result.is_final:
            finals.append(result)
        elif result.is_revision:  # a better text for a final already in (engines/base.py)
            finals = [result if f.segment_id == result.segment_id else f for f in finals]
    await feeder
    return finals


def render(finals: list[CaptionResult], language: str, source: str, fmt: str) -> str:
    lines = [
        Line(
            n,
            r.source_text if language == source else r.translations.get(language, ""),
            r.start,
            r.end,
        )
        for n, r in enumerate(finals, 1)
    ]
    if fmt == "json":
        rows = [{"seq": x.seq, "start": x.start, "end": x.end, "text": x.text} for x in lines]
        return json.dumps({"language": language, "captions": rows}, ensure_ascii=False, indent=1)
    return exports.render(lines, fmt)


class Command(BaseCommand):
    help = "Write subtitles of an audio or video file in the spoken language and translations."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--from", dest="source", required=True, help="spoken language, e.g. en")
        parser.add_argument("--to", default="", help="comma-separated target languages, e.g. es,pt")
        parser.add_argument("--format", choices=FORMATS, default="srt")
        parser.add_argument("--realtime", action="store_true", help="feed audio at speaking pace")
        parser.add_argument("--output-dir", type=Path, help="default: beside the input file")

    def handle(
        self,
        *args,
        file: Path,
        source: str,
        to: str,
        format: str,
        realtime: bool,
        output_dir: Path | None,
        **options,
    ) -> None:
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        targets = tuple(t.strip() for t in to.split(",") if t.strip() and t.strip() != source)
        self._check_languages(source, targets)
        samples = decode_file(file)
        finals = self._run(samples, SessionConfig(source, targets), realtime)
        out = output_dir or file.parent
        out.mkdir(parents=True, exist_ok=True)
        for language in (source, *targets):
            path = out / f"{file.stem}.{language}.{format}"
            path.write_text(render(finals, language, source, format), encoding="utf-8")
            self.stdout.write(f"{path}: {len(finals)} captions")

    def _check_languages(self, source: str, targets: tuple[str, ...]) -> None:
        support = get_engine().language_support()
        if source not in support.sources:
            raise CommandError(f"the engine does not recognize the language {source!r}")
        missing = [t for t in targets if t not in support.targets_for(source)]
        if missing:
            raise CommandError(f"the engine cannot translate {source} into {', '.join(missing)}")

    def _run(self, samples: np.ndarray, config: SessionConfig, realtime: bool):
        from tqdm import tqdm

        seconds = round(len(samples) / SAMPLE_RATE, 1)
        with tqdm(total=seconds, unit="s", desc="captioning", disable=None) as progress:
            try:
                return asyncio.run(caption_audio(samples, config, realtime, progress))
            except EngineError as exc:
                raise CommandError(f"the engine failed: {exc}") from exc
