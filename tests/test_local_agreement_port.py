"""bench/local_agreement.py, the port of whisper_streaming's LocalAgreement-2, on hand-made
timestamped words: no model, no audio."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from bench.local_agreement import (
    Captioner,
    HypothesisBuffer,
    LocalAgreementSession,
    OnlineASRProcessor,
)
from captions.engines.base import ResultKind

pytestmark = pytest.mark.timeout(10)


def texts(words) -> list[str]:
    return [w[2] for w in words]


def test_the_common_prefix_of_two_hypotheses_is_committed():
    """Only the words two hypotheses in a row agree on are committed; the rest waits."""
    buffer = HypothesisBuffer()
    buffer.insert([(0.0, 0.4, " Good"), (0.5, 0.9, " morning"), (1.0, 1.3, " every")], 0)
    assert buffer.flush() == []
    buffer.insert([(0.0, 0.4, " Good"), (0.5, 0.9, " morning"), (1.0, 1.5, " everyone")], 0)
    assert texts(buffer.flush()) == [" Good", " morning"]
    assert buffer.last_commited_time == 0.9
    assert texts(buffer.complete()) == [" everyone"]


def test_committed_words_heard_again_are_not_committed_twice():
    """A hypothesis that starts with the last committed words again (n-gram) skips them."""
    buffer = HypothesisBuffer()
    first = [(0.0, 0.4, " Good"), (0.5, 0.9, " morning"), (1.0, 1.5, " everyone")]
    buffer.insert(first, 0)
    buffer.flush()
    buffer.insert(first, 0)
    buffer.flush()  # all three committed, last at 1.5 s
    again = [(1.45, 1.5, " everyone"), (1.6, 2.0, " welcome")]
    buffer.insert(again, 0)
    assert texts(buffer.new) == [" welcome"]
    buffer.flush()
    buffer.insert([(0.3, 0.7, " welcome"), (0.8, 1.0, " to")], 1.3)  # a trimmed buffer's offset
    assert texts(buffer.flush()) == [" welcome"]


def test_words_before_the_last_committed_time_are_ignored():
    """Words starting more than 0.1 s before the last committed word's end are dropped."""
    buffer = HypothesisBuffer()
    buffer.last_commited_time = 2.0
    buffer.insert([(1.5, 1.8, " old"), (1.95, 2.3, " edge"), (2.4, 2.8, " new")], 0)
    assert texts(buffer.new) == [" edge", " new"]


def test_pop_commited_forgets_words_that_end_by_the_trim_time():
    """Trimming the audio at t forgets the committed words ending at or before t."""
    buffer = HypothesisBuffer()
    buffer.commited_in_buffer = [(0.0, 0.4, " a"), (0.5, 1.0, " b"), (1.1, 1.5, " c")]
    buffer.pop_commited(1.0)
    assert texts(buffer.commited_in_buffer) == [" c"]


class ScriptedASR:
    """Stands for FasterWhisperASR: each transcribe returns the next scripted segment list."""

    sep = ""

    def __init__(self, script: list[list[tuple]]) -> None:
        self.script = script
        self.prompts: list[str] = []
        self.decoding = threading.Semaphore(0)  # released as each decode starts

    def transcribe(self, audio, init_prompt: str = ""):
        self.prompts.append(init_prompt)
        self.decoding.release()
        words = self.script.pop(0) if self.script else []
        return [SimpleNamespace(end=words[-1][1], words=words)] if words else []

    def ts_words(self, segments):
        return [w for s in segments for w in s.words]

    def segments_end_ts(self, res):
        return [s.end for s in res]


def test_the_prompt_is_committed_text_that_scrolled_out_of_the_buffer():
    """After a trim, the committed words before it (but the last) prompt the next decode."""
    asr = ScriptedASR([[(0.0, 0.4, " One"), (0.5, 0.9, " two"), (1.0, 1.4, " three")]] * 2)
    processor = OnlineASRProcessor(asr)
    processor.insert_audio_chunk(np.zeros(16000 * 2, np.float32))
    processor.process_iter()
    assert texts(processor.process_iter()) == [" One", " two", " three"]
    processor.chunk_at(1.4)
    assert processor.prompt() == (" One two", " three")
    assert len(processor.audio_buffer) == int(0.6 * 16000)


def test_committed_words_become_growing_partials_and_sentence_finals():
    """Each committed chunk grows the open caption; a full stop closes it with a final."""
    captioner = Captioner()
    first = captioner.add([(0.0, 0.4, " Hello"), (0.5, 0.9, " there.")])
    assert [(c[0], c[1], c[2]) for c in first] == [(ResultKind.FINAL, "la-0", "Hello there.")]
    second = captioner.add([(1.0, 1.4, " How"), (1.5, 1.9, " are")])
    assert [(c[0], c[1], c[2]) for c in second] == [(ResultKind.PARTIAL, "la-1", "How are")]
    assert captioner.add([]) == []
    last = captioner.add([(2.0, 2.3, " you")], last=True)
    assert [(c[0], c[1], c[2], c[3], c[4]) for c in last] == [
        (ResultKind.FINAL, "la-1", "How are you", 1.0, 2.3)
    ]


async def send_frames(session: LocalAgreementSession, count: int) -> None:
    for _ in range(count):
        await session.send_audio(np.zeros(1600, "<i2").tobytes())


async def test_the_session_decodes_each_second_and_flushes_at_finish():
    """2.5 s of audio: two decodes of 1 s, one of the rest, then the uncommitted words."""
    words = [(0.0, 0.4, " Hi"), (0.5, 0.9, " all."), (1.0, 1.4, " Next")]
    asr = ScriptedASR([words[:2], words[:3], words + [(1.5, 1.9, " one")]])
    session = LocalAgreementSession(OnlineASRProcessor(asr))
    for _ in range(2):
        await send_frames(session, 10)
        assert await asyncio.to_thread(asr.decoding.acquire, timeout=5)
    await send_frames(session, 5)
    await session.finish()
    results = [(r.kind, r.source_text) async for r in session.results()]
    await session.close()
    assert results == [
        (ResultKind.FINAL, "Hi all."),
        (ResultKind.PARTIAL, "Next"),
        (ResultKind.FINAL, "Next one"),
    ]
    assert len(asr.prompts) == 3
