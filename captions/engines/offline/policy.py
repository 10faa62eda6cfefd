"""When to decode, what to show and when a caption is final: the streaming policy. Pure logic.

Whisper is not a streaming model, so the offline engine re-decodes the open utterance and
decides from the hypotheses what listeners see. This object makes every one of those
decisions and does no I/O: the session feeds it audio frames with their voice
probabilities and the text of the decodes it asked for, and it answers with actions
(decode this audio with this prefix and prompt, give up that decode, show this partial,
emit this final, say the decoder is behind: actions.py). Its tests run in milliseconds with
a fake decoder.

The policy, measured on recorded talks (bench/engine.py):
- An utterance starts at the first voiced frame, with the audio since the last one's end
  (at most ``preroll``) before it, so a soft first consonant is never clipped.
- **Context across pauses.** The audio of the previous utterance is decoded again in front
  of the open one, with its final text forced as the decoder's prefix: the decoder continues
  after that text, so only new words come out, and a short phrase between two pauses is
  never decoded alone. Once the open utterance has ``context_below`` seconds of its own,
  that text goes in the prompt instead. Older finals go in Whisper's previous-text prompt.
  (``context_utterances`` chains several short finished utterances as one context; measured,
  it is off by default.)
- **Partials** re-decode the open utterance every ``partial_every`` seconds of audio, with a
  greedy search, shown through LocalAgreement-2 (agreement.py): a word is stable once two
  consecutive hypotheses agree on it and on everything before it (the newest hypothesis's
  last word excepted). Stable words that end a sentence with more stable words after it
  are emitted as a final at once, and forced as prefix from then on: words are never
  decoded twice into the transcript. A final decode made stale by speech after a short
  pause is one more hypothesis. After each partial decode the decoder rests
  (``partial_duty``), so that a pause's final decode rarely has to wait for a partial one.
- **Finals.** At ``early_pause`` of silence the final decode (wider beam) starts; speech
  going on makes it stale. The utterance ends when the pause reaches ``sentence_pause`` and
  that decode ends a sentence, or ``end_pause`` in any case, or at ``max_utterance``, where
  it is cut at its quietest frame of the last seconds. A decode that finishes before the
  pause is confirmed costs no latency at all. One whose text ends inside a word is done
  again with ``tail_look`` of the pause (a soft last syllable outlasts the voiced frames).
- **A look back.** Once the next final is out, a final of at most ``review_below`` seconds
  is decoded again with the finals of the ``look_back`` seconds before it and the next one,
  as one; the session emits a ``Revision`` of it where that decode heard its words otherwise
  (review.py). It runs beside the live decodes, on a model at idle priority (session.py).
- One live decode and one look back in flight per session; finals go before partials. A
  partial decode finds the decoder busy (another presenter's final) and is skipped and
  tried again later; after ``overload_after`` seconds of that the presenter is told the
  engine is behind.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...words import join_words, split_words
from .actions import Action, Behind, Cancel, Decode, Done, Final, Partial, Review, Revision
from .agreement import LocalAgreement, common_prefix, shown_guess
from .sentences import ends_sentence

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512  # the unit of the Silero voice-activity model: 32 ms
MAX_DECODE_SECONDS = 29.5  # Whisper hears at most 30 s at once
# Where the forced words end in the audio is only estimated (by their share of the words
# heard): a decode's own audio starts this much before the estimate.
ESTIMATE_SLACK = 1.0


@dataclass(frozen=True)
class PolicyParams:
    """The policy's knobs, in seconds unless said otherwise; defaults chosen by bench/engine.py."""

    threshold: float = 0.5  # voice probability that starts speech
    release: float = 0.35  # ... and below which speech counts as paused (hysteresis)
    min_speech: float = 0.15  # voiced audio an utterance needs (shorter: a click, a cough)
    preroll: float = 0.5
    first_partial_after: float = 0.3
    partial_every: float = 0.6
    # Partial decodes keep the decoder busy at most this share of the time, so that the final
    # decode a pause asks for finds it free more often (a partial cannot be interrupted).
    partial_duty: float = 0.6
    early_pause: float = 0.12
    sentence_pause: float = 0.25
    end_pause: float = 0.55
    max_utterance: float = 15.0
    cut_search: float = 3.0  # a cut goes at the quietest frame of this last stretch
    # The previous utterance is decoded as context only if it began at most this long before
    # the open one: a long one costs every decode its seconds, and Whisper given a long forced
    # prefix over long audio sometimes starts over (decoder.py, echoes). 15 s: p95 2.8 s.
    context_seconds: float = 6.0
    # ... and only while the open utterance has less audio of its own than this: a longer one
    # has enough to be heard alone, and the context's seconds cost every decode of it
    # (bench/final_context.py: no context from 3 s on, corpus WER 8.2% -> 8.1%, decoding -9%).
    context_below: float = 3.0
    context_gap: float = 4.0  # a previous utterance further back than this is not context
    # How many finished utterances may be context at once, chained (``_context_for``). One:
    # chaining fixed "though on" on one machine and not on another, where it cost a phrase
    # instead; in the streaming run it changed nothing but the decode time (docs/offline-engine.md).
    context_utterances: int = 1
    prompt_words: int = 40
    partial_beam: int = 1
    # Beam 5 against 3, streamed side by side twice (2026-12-06): corpus WER 7.7 / 7.9% and
    # "had known" heard in every stream, held-out 9.6 / 10.3%, clips 7.5 / 7.9%; last word ->
    # final p95 +0.14 s with 1 presenter, +0.26 s with 2 (1.35 s and 2.08 s).
    final_beam: int = 5
    partial_window: float = 8.0  # seconds of Whisper's encoder window, at least (decoder.py)
    final_window: float = 16.0
    final_keeps_agreed: bool = False  # force the agreed words into the final decode too
    overload_after: float = 2.0
    # Agreed whole sentences followed by more agreed words are final before the pause
    # (``_sentence_finals``). Off where partials come from a smaller model than finals: its
    # sentence stops are its own (tiny.en closes a sentence at a breath more readily than
    # base: "...our conference about." / "Open source software...", CI 2026-12-06), and its
    # words would be final without base ever hearing them.
    agreed_finals: bool = True
    # A final of at most this many seconds of its own audio is looked at again once the next
    # final is out, if that began within ``context_gap`` (review.py); None: never. Longer
    # ones were rarely changed (bench/look_back.py: 1 of 12 finals over 6 s on two sets),
    # and the look at one costs the most decoding.
    review_below: float | None = 6.0
    # ... decoded after the finals that began at most this long before it, each following
    # the one before within ``context_gap`` (bench/look_back.py: 4 s and 8 s both gained on
    # the corpus, only 8 s on the held-out recordings).
    look_back: float = 8.0
    # A final decode whose text ends inside a word is done again once this much of the pause
    # is in (or at the pause's end), its audio then reaching past a soft last syllable
    # (``_tail_unheard``); None: never.
    tail_look: float | None = 0.3


# ------------------------------------------------------------------ state


@dataclass
class Utterance:
    """One open (or ending) utterance, in samples of stream time."""

    segment_id: str
    audio_start: int  # where its own audio starts (pre-roll included)
    speech_start: int  # first voiced frame
    last_voiced: int  # end of the last voiced frame
    voiced: int = 0  # voiced samples
    emitted: list[str] = field(default_factory=list)  # words already sent as sentence finals
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    partial_at: int = 0  # audio end of the last partial decode asked for
    partial_rest: int = 0  # no partial decode before this stream sample (partial_duty)
    partials: int = 0
    agreed_until: int = 0  # stream sample where its agreed words end, estimated
    final_decode: int | None = None  # id of the valid final decode in flight
    final_text: str | None = None  # its answer, while still valid (no speech since)
    heard_to: int = 0  # where that answer's audio ended
    ending: bool = False  # the pause or a cut ended it; waiting for its final decode
    end: int | None = None  # where its audio ends (its pause, or a cut): later audio is the next's


@dataclass(frozen=True)
class Context:
    """Finished speech that the next utterance is decoded after: its audio and final text."""

    audio_start: int
    speech_start: int
    last_voiced: int
    text: str


@dataclass
class Said:
    """A final as shown, kept to look back at it and at those after it (review.py)."""

    segment_id: str
    text: str
    audio_start: int  # where its audio starts (pre-roll included), in stream samples
    speech_start: int
    last_voiced: int
    end: int  # where its audio ends
    prompt: str  # the transcript before it: Whisper's previous text for a look from here
    start_seconds: float  # the final's times, for its revision
    end_seconds: float
    looked: bool = False  # looked back at, or never to be


@dataclass(frozen=True)
class Asked:
    id: int
    utterance: Utterance
    final: bool
    audio_end: int


class StreamingPolicy:
    """Feeds on frames and voice probabilities and on decode answers; returns actions."""

    def __init__(self, params: PolicyParams | None = None) -> None:
        self.p = params or PolicyParams()
        self.audio = AudioBuffer()
        self.now = 0  # samples fed so far
        self.silence = 0  # samples since the last voiced frame of the open utterance
        self.speaking = False  # the voice detector's state, with hysteresis
        self.quiet: collections.deque[tuple[int, float]] = collections.deque()  # cut candidates
        self.utterance: Utterance | None = None
        self.ending: collections.deque[Utterance] = collections.deque()  # awaiting a final decode
        # Finished utterances that may still be context, oldest first (``_context_for``).
        self.finished: collections.deque[Context] = collections.deque(
            maxlen=self.p.context_utterances
        )
        self.last_voiced = 0  # end of the last closed utterance's speech
        self.transcript: collections.deque[str] = collections.deque(maxlen=self.p.prompt_words)
        self.asked: dict[int, Asked] = {}
        self.said: collections.deque[Said] = collections.deque()  # recent finals, oldest first
        self.reviewing: tuple[int, Said] | None = None  # the look back in flight
        self.review_rest = 0  # no look back before this stream sample (another one ran)
        self.decodes = 0
        self.segments = 0
        self.skipped_since: int | None = None
        self.behind = False
        self.finishing = False
        self.done = False

    # ------------------------------------------------------------- inputs

    def feed(self, frames: np.ndarray, probabilities: Sequence[float]) -> list[Action]:
        """Take whole frames (``FRAME_SAMPLES`` each) and one voice probability per frame."""
        actions: list[Action] = []
        self.audio.append(frames)
        for probability in probabilities:
            actions += self._frame(float(probability))
        actions += self._decide()
        self._trim_audio()
        return actions

    def decoded(self, decode_id: int, text: str | None) -> list[Action]:
        """The answer to ``Decode(decode_id)``: the text after its prefix, None if skipped."""
        asked = self.asked.pop(decode_id, None)
        if asked is None:
            return []
        actions: list[Action] = []
        if asked.final:
            actions += self._final_answer(asked, text or "")
        elif text is None:
            self._skipped(asked)
        elif asked.utterance is self.utterance:
            self._rest_after(asked)
            actions += self._partial_answer(asked, text)
        return actions + self._overload_notice() + self._decide()

    def reviewed(self, review_id: int, text: str | None) -> list[Action]:
        """The answer to ``Review(review_id)``: the final's better text, "" to keep it as it
        is, None if another presenter's look back was running: then it is tried again at the
        next chance, unless this session's partials are behind."""
        if self.reviewing is None or self.reviewing[0] != review_id:
            return []
        final, self.reviewing = self.reviewing[1], None
        actions: list[Action] = []
        if text is None and not self.behind:
            final.looked = False  # as a skipped partial: again once 0.2 s more audio is in
            self.review_rest = self.now + self._samples(0.2)
        elif text:
            final.text = text  # later looks align with what is shown
            actions.append(Revision(final.segment_id, text, final.start_seconds, final.end_seconds))
        self._forget_said()
        return actions + self._decide()

    def finish(self) -> list[Action]:
        """The stream ended: finalize the open utterance; ``Done`` follows the last final."""
        self.finishing = True
        utterance, self.utterance = self.utterance, None
        actions: list[Action] = []
        if utterance is not None and (self._has_speech(utterance) or utterance.partials):
            actions += self._end(utterance)
        return actions + self._decide()

    # ------------------------------------------------------------- frames

    def _frame(self, probability: float) -> list[Action]:
        start, self.now = self.now, self.now + FRAME_SAMPLES
        self.speaking = probability >= (self.p.release if self.speaking else self.p.threshold)
        utterance = self.utterance
        if utterance is None:
            if self.speaking:
                self.utterance = self._open(start)
                self.quiet.clear()
                self._voiced(self.utterance, start)
            return []
        self.quiet.append((start, probability))
        if len(self.quiet) > self._samples(self.p.cut_search) // FRAME_SAMPLES:
            self.quiet.popleft()
        if not self.speaking:
            self.silence += FRAME_SAMPLES
            return []
        actions: list[Action] = []
        if utterance.final_decode is not None:  # speech went on after the pause: stale
            actions.append(Cancel(utterance.final_decode))
        utterance.final_decode = utterance.final_text = None
        self._voiced(utterance, start)
        return actions

    def _voiced(self, utterance: Utterance, start: int) -> None:
        utterance.voiced += FRAME_SAMPLES
        utterance.last_voiced = start + FRAME_SAMPLES
        self.silence = 0

    def _open(self, speech_start: int, audio_start: int | None = None) -> Utterance:
        if audio_start is None:  # the pre-roll, but none of the last utterance's speech
            audio_start = max(speech_start - self._samples(self.p.preroll), self.last_voiced)
        self.segments += 1
        return Utterance(f"w{self.segments}", audio_start, speech_start, speech_start)

    # ------------------------------------------------------------- decisions

    def _decide(self) -> list[Action]:
        actions = self._end_or_cut()
        if self.reviewing is None and (review := self._review_due()) is not None:
            actions.append(review)  # beside the live decodes, never instead of one
        if self.asked:
            return actions  # one live decode in flight at a time
        if self.ending:
            return actions + [self._ask(self.ending.popleft(), final=True)]
        utterance = self.utterance
        speech = utterance is not None and self._has_speech(utterance)
        if speech and self.silence >= self._samples(self.p.early_pause):
            if utterance.final_text is None:
                actions.append(self._ask(utterance, final=True))
            elif self._tail_unheard(utterance) and self.silence >= self._samples(self.p.tail_look):
                utterance.final_text = None  # the pause's end waits for the new answer
                actions.append(self._ask(utterance, final=True))
            return actions
        if not speech:
            if self.finishing and utterance is None and self.reviewing is None and not self.done:
                self.done = True
                actions.append(Done())
            return actions
        if self.silence == 0 and self._partial_due(utterance):
            actions.append(self._ask(utterance, final=False))
        return actions

    def _end_or_cut(self) -> list[Action]:
        utterance = self.utterance
        if utterance is None:
            return []
        if not self._has_speech(utterance):
            if self.silence >= self._samples(self.p.end_pause):
                self.utterance = None  # a click or a cough: nothing to decode
            return []
        if self._pause_ends(utterance):
            self.utterance = None
            return self._end(utterance)
        if self.now - utterance.audio_start >= self._samples(self.p.max_utterance):
            return self._cut(utterance)
        return []

    def _pause_ends(self, utterance: Utterance) -> bool:
        if self.silence >= self._samples(self.p.end_pause):
            return True
        text = utterance.final_text
        sentence = text is not None and ends_sentence(
            join_words([*utterance.agreement.stable, text])
        )
        return sentence and self.silence >= self._samples(self.p.sentence_pause)

    def _tail_unheard(self, utterance: Utterance) -> bool:
        """Whether the final decode's text may lack the utterance's last syllables: it ends
        inside a word, and its audio stopped less than ``tail_look`` after the last voiced
        frame, with more audio in since.

        The voice detector's last voiced frame is often before the end of a soft last
        syllable, and Whisper leaves out a word its audio stops inside: 行かな for
        行かなかった ("could not"), its last 0.1 s of audio missing (held-out ja item,
        2026-12-05). What Whisper heard whole it closes with punctuation, a comma at least
        (58 of 60 finals of the held-out set did).
        """
        text = utterance.final_text
        if self.p.tail_look is None or not text or not text[-1].isalnum():
            return False
        heard_after_voice = utterance.heard_to - utterance.last_voiced
        audio_end = utterance.end if utterance.end is not None else self.now
        return (
            heard_after_voice < self._samples(self.p.tail_look) and audio_end > utterance.heard_to
        )

    def _end(self, utterance: Utterance) -> list[Action]:
        """The pause (or the stream's end) closed ``utterance``: emit or await its final."""
        self.last_voiced = max(self.last_voiced, utterance.last_voiced)
        # Its audio ends here: a final decode that waits for a busy decoder must not hear
        # the next utterance's first words too (they would be shown twice).
        utterance.end = self.now
        if utterance.final_text is not None and not self._tail_unheard(utterance):
            return self._emit_final(utterance, utterance.final_text)
        utterance.final_text = None  # none yet, or one to decode again with all of its pause
        utterance.ending = True
        if utterance.final_decode is None:
            self.ending.append(utterance)  # asked for by _decide before any partial
        return []

    def _cut(self, utterance: Utterance) -> list[Action]:
        """Too long without a pause: end it at its quietest recent frame and go on from there."""
        cut = min(self.quiet, key=lambda item: item[1])[0] if self.quiet else self.now
        actions: list[Action] = []
        if utterance.final_decode is not None:
            actions.append(Cancel(utterance.final_decode))
        utterance.final_decode = utterance.final_text = None
        utterance.end, utterance.ending = cut, True
        utterance.last_voiced = min(utterance.last_voiced, cut)
        self.last_voiced = max(self.last_voiced, utterance.last_voiced)
        self.ending.append(utterance)
        following = self._open(cut, audio_start=cut)
        following.voiced, following.last_voiced = self.now - cut, self.now
        self.utterance = following
        self.quiet.clear()
        return actions

    def _partial_due(self, utterance: Utterance) -> bool:
        if self.now < utterance.partial_rest:
            return False
        if utterance.partial_at == 0:
            return self.now - utterance.speech_start >= self._samples(self.p.first_partial_after)
        return self.now - utterance.partial_at >= self._samples(self.p.partial_every)

    def _has_speech(self, utterance: Utterance) -> bool:
        return utterance.voiced >= self._samples(self.p.min_speech)

    # ------------------------------------------------------------- decode requests

    def _ask(self, utterance: Utterance, *, final: bool) -> Decode:
        """Decode the utterance after its context, its sentence finals and its agreed words."""
        audio_end = utterance.end if utterance.end is not None else self.now
        context = self._context_for(utterance, audio_end)
        start = context.audio_start if context else utterance.audio_start
        prefix = [context.text] if context else []
        prefix += utterance.emitted
        if self._keeps_agreed(final):
            prefix += utterance.agreement.stable
        # The prefix covers the sentence finals (up to speech_start) and, for a partial, the
        # agreed words: the audio after them bounds how much text the decode may produce, so
        # a decode caught in a loop stops early (decoder.max_new_tokens).
        covered = utterance.speech_start
        if self._keeps_agreed(final):
            covered = max(covered, utterance.agreed_until)
        own_start = max(utterance.audio_start, covered - self._samples(ESTIMATE_SLACK))
        self.decodes += 1
        self.asked[self.decodes] = Asked(self.decodes, utterance, final, audio_end)
        if final:
            utterance.final_decode = self.decodes
        else:
            utterance.partial_at = audio_end
        return Decode(
            self.decodes,
            self._slice(start, audio_end),
            audio_end,
            audio_end - own_start,
            join_words(prefix),
            self._prompt(context),
            self.p.final_beam if final else self.p.partial_beam,
            final,
            self.p.final_window if final else self.p.partial_window,
        )

    def _review_due(self) -> Review | None:
        """A look back at the oldest final due one: the next final is out (review.py). None
        while the live decodes are behind: then the CPU has nothing to spare."""
        if self.behind or self.now < self.review_rest:
            return None
        for index, final in enumerate(self.said):
            if final.looked:
                continue
            if index + 1 == len(self.said):
                return None  # the next final is not out yet
            final.looked = True
            following = self.said[index + 1]
            if following.speech_start - final.last_voiced > self._samples(self.p.context_gap):
                continue  # nothing said soon after it: no more to hear it with
            first = self._look_from(index, following.end)
            if first is None:
                continue
            finals = list(self.said)[first : index + 2]
            self.decodes += 1
            self.reviewing = (self.decodes, final)
            return Review(
                self.decodes,
                final.segment_id,
                self._slice(finals[0].audio_start, following.end),
                tuple(said.text for said in finals),
                index - first,
                finals[0].prompt,
                self.p.final_beam,
                self.p.final_window,
            )
        return None

    def _look_from(self, index: int, end: int) -> int | None:
        """Where a look back at ``said[index]`` starts: the earliest final that began at most
        ``look_back`` before it, with no gap over ``context_gap`` since, whose audio is still
        kept and within Whisper's 30 s of ``end``; None if even its own is not."""
        final = self.said[index]
        first = None
        for earlier in range(index, -1, -1):
            said = self.said[earlier]
            if earlier < index:
                after = self.said[earlier + 1]
                if final.audio_start - said.audio_start > self._samples(self.p.look_back):
                    break
                if after.speech_start - said.last_voiced > self._samples(self.p.context_gap):
                    break
            if said.audio_start < self.audio.offset:
                break
            if end - said.audio_start > self._samples(MAX_DECODE_SECONDS):
                break
            first = earlier
        return first

    def _keep_said(self, utterance: Utterance, final: Final, audio_start: int, end: int) -> None:
        """Keep a final for looking back (review.py), if it may be looked at or looked from."""
        if self.p.review_below is None or not final.text:
            return
        prompt = join_words(self.transcript)
        self.said.append(
            Said(
                final.segment_id,
                final.text,
                audio_start,
                utterance.speech_start,
                min(utterance.last_voiced, end),
                end,
                prompt,
                final.start,
                final.end,
                looked=final.end - final.start > self.p.review_below,
            )
        )
        self._forget_said()

    def _forget_said(self) -> None:
        """Forget finals no look back can start from any more."""
        if not self.said:
            return
        anchor = next((said for said in self.said if not said.looked), self.said[-1])
        oldest = anchor.audio_start - self._samples(self.p.look_back)
        while self.said[0] is not anchor and self.said[0].audio_start < oldest:
            self.said.popleft()

    def _keeps_agreed(self, final: bool) -> bool:
        return not final or self.p.final_keeps_agreed

    def _context_for(self, utterance: Utterance, audio_end: int) -> Context | None:
        """The finished speech to decode before a short utterance, as one context: the kept
        finished ones (at most ``context_utterances``) that began at most ``context_seconds``
        before it, each following the one before within ``context_gap``.
        """
        if audio_end - utterance.audio_start >= self._samples(self.p.context_below):
            return None
        chain: list[Context] = []
        following = utterance.speech_start
        for earlier in reversed(self.finished):
            if earlier.audio_start < self.audio.offset:
                break
            if audio_end - earlier.audio_start > self._samples(MAX_DECODE_SECONDS):
                break
            if following - earlier.last_voiced > self._samples(self.p.context_gap):
                break
            if utterance.audio_start - earlier.audio_start > self._samples(self.p.context_seconds):
                break
            chain.append(earlier)
            following = earlier.speech_start
        if not chain:
            return None
        first, last = chain[-1], chain[0]
        text = join_words(c.text for c in reversed(chain))
        return Context(first.audio_start, first.speech_start, last.last_voiced, text)

    def _prompt(self, context: Context | None) -> str:
        words = list(self.transcript)
        if context is not None:  # the context's words are in the prefix
            words = words[: max(0, len(words) - len(split_words(context.text)))]
        return join_words(words)

    # ------------------------------------------------------------- decode answers

    def _skipped(self, asked: Asked) -> None:
        """The decoder was busy: try the partial again a little later."""
        if self.skipped_since is None:
            self.skipped_since = self.now
        retry = self._samples(self.p.partial_every - 0.2)
        asked.utterance.partial_at = max(0, asked.audio_end - retry) or 1

    def _rest_after(self, asked: Asked) -> None:
        """No partial decode for a share (``partial_duty``) of the time this one took."""
        took = self.now - asked.audio_end
        rest = took * (1 - self.p.partial_duty) / self.p.partial_duty
        asked.utterance.partial_rest = self.now + int(rest)

    def _partial_answer(self, asked: Asked, text: str) -> list[Action]:
        utterance = asked.utterance
        self.skipped_since = None
        if not text:
            return []  # nothing heard, or a decode caught in a loop: wait for the next one
        agreement = utterance.agreement
        agreement.update(split_words(text))
        actions = self._sentence_finals(utterance, asked.audio_end) if self.p.agreed_finals else []
        heard = len(agreement.stable) + len(agreement.guess)
        utterance.agreed_until = words_end(utterance, asked.audio_end, len(agreement.stable), heard)
        stable, guess = agreement.stable, shown_guess(agreement)
        if not stable and not guess:
            return actions
        utterance.partials += 1
        actions.append(
            Partial(
                utterance.segment_id,
                join_words(stable),
                join_words(stable + guess),
                self._seconds(utterance.speech_start),
                self._seconds(asked.audio_end),
            )
        )
        return actions

    def _sentence_finals(self, utterance: Utterance, audio_end: int) -> list[Action]:
        """Agreed whole sentences followed by more agreed words are final at once.

        Not a sentence end followed only by a guess: greedy decodes of non-native speech put
        full stops inside sentences ("A. My highest you can" for "Aim as high as you can",
        bench/engine.py, 2026-12-02), and two of them agreeing on the stop is not enough.
        Nor a sentence of one word, nor what follows it: that is how such a stop splits a word
        off, and the partials agree on "A. My" as readily (2 presenters, 2026-12-04); at the
        pause the final decode (a wider beam) heard "Aim as high as you can."
        """
        stable = utterance.agreement.stable
        complete = 0  # words in the whole sentences of two or more words at the start
        for end in (i for i, word in enumerate(stable[:-1]) if ends_sentence(word)):
            if end == complete:
                break  # a one-word sentence
            complete = end + 1
        if not complete:
            return []
        words = utterance.agreement.take(complete)
        # Only the delay figures and the next decodes' token bound use this estimate.
        heard = len(words) + len(utterance.agreement.stable) + len(utterance.agreement.guess)
        end = words_end(utterance, audio_end, len(words), heard)
        final = Final(
            utterance.segment_id,
            join_words(words),
            self._seconds(utterance.speech_start),
            self._seconds(end),
            self._slice(utterance.speech_start, end),
        )
        audio_start = utterance.speech_start if utterance.emitted else utterance.audio_start
        self._keep_said(utterance, final, audio_start, end)
        utterance.emitted += words
        self.transcript.extend(words)
        self.segments += 1
        utterance.segment_id = f"w{self.segments}"
        utterance.speech_start, utterance.partials = end, 0
        return [final]

    def _final_answer(self, asked: Asked, text: str) -> list[Action]:
        utterance = asked.utterance
        if utterance.final_decode != asked.id:
            # Stale: speech went on after the pause, or the utterance was cut. A decode of the
            # open utterance up to its short pause is still a hypothesis of its words.
            return self._stale_final_answer(asked, text)
        utterance.final_decode = None
        utterance.final_text, utterance.heard_to = text, asked.audio_end
        if not utterance.ending:
            return []  # _decide ends the utterance when the pause is long enough
        if self._tail_unheard(utterance):
            utterance.final_text = None
            self.ending.append(utterance)  # decoded again up to its end, before any partial
            return []
        return self._emit_final(utterance, text)

    def _stale_final_answer(self, asked: Asked, text: str) -> list[Action]:
        """Take a stale final decode of the open utterance as one more partial hypothesis.

        It was decoded after the utterance's sentence finals only (not its agreed words), so
        it counts if it starts with the agreed words; the rest is the hypothesis after them.
        Agreement then needs one partial decode less after a short pause.
        """
        utterance = asked.utterance
        if utterance is not self.utterance or utterance.ending or not text:
            return []
        said, stable = split_words(text), utterance.agreement.stable
        if common_prefix(said, stable) < len(stable):
            return []
        return self._partial_answer(asked, join_words(said[len(stable) :]))

    def _emit_final(self, utterance: Utterance, text: str) -> list[Action]:
        utterance.ending = False
        agreed = utterance.agreement.stable if self._keeps_agreed(True) else []
        words = agreed + split_words(text)
        full = join_words([*utterance.emitted, *words])
        self._finished(utterance, full)
        if not words and not utterance.partials:
            return []
        end = utterance.end if utterance.end is not None else self.now
        final = Final(
            utterance.segment_id,
            join_words(words),
            self._seconds(utterance.speech_start),
            self._seconds(utterance.last_voiced),
            self._slice(utterance.speech_start, end),
        )
        audio_start = utterance.speech_start if utterance.emitted else utterance.audio_start
        self._keep_said(utterance, final, audio_start, end)
        self.transcript.extend(words)
        return [final]

    def _finished(self, utterance: Utterance, text: str) -> None:
        """Keep a finished utterance as context for the next ones; forget what is too old."""
        if not text:  # nothing heard: no context to decode after, and the chain breaks
            self.finished.clear()
            return
        oldest = utterance.audio_start - self._samples(self.p.context_seconds)
        while self.finished and self.finished[0].audio_start < oldest:
            self.finished.popleft()
        self.finished.append(
            Context(utterance.audio_start, utterance.speech_start, utterance.last_voiced, text)
        )

    # ------------------------------------------------------------- overload

    def _overload_notice(self) -> list[Action]:
        late = self.skipped_since is not None and (
            self.now - self.skipped_since >= self._samples(self.p.overload_after)
        )
        if late and not self.behind:
            self.behind = True
            return [Behind(True)]
        if self.skipped_since is None and self.behind:
            self.behind = False
            return [Behind(False)]
        return []

    # ------------------------------------------------------------- audio

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self.audio.between(start, end)

    def _trim_audio(self) -> None:
        """Drop audio no decode can need: before the context and every open utterance."""
        keep = [self.now - self._samples(self.p.preroll)]
        keep += [u.audio_start for u in self.ending]
        keep += [a.utterance.audio_start for a in self.asked.values()]
        if self.utterance is not None:
            keep.append(self.utterance.audio_start)
        if self.finished:
            keep.append(self.finished[0].audio_start)
        if self.said:
            keep.append(self.said[0].audio_start)
        start = max(min(keep), self.now - self._samples(60.0))
        if start - self.audio.offset > SAMPLE_RATE * 10:  # in big steps: moving is not free
            self.audio.drop_before(start)

    @staticmethod
    def _samples(seconds: float) -> int:
        return int(seconds * SAMPLE_RATE)

    @staticmethod
    def _seconds(samples: int) -> float:
        return samples / SAMPLE_RATE


class AudioBuffer:
    """The stream's recent samples, from stream sample ``offset`` on.

    Frames arrive ten times a second; appending copies only the new frames (the storage
    doubles when full), not the seconds already kept.
    """

    def __init__(self) -> None:
        self.data = np.zeros(SAMPLE_RATE * 30, np.float32)
        self.length = 0
        self.offset = 0

    def append(self, samples: np.ndarray) -> None:
        end = self.length + len(samples)
        if end > len(self.data):
            grown = np.zeros(max(end, 2 * len(self.data)), np.float32)
            grown[: self.length] = self.data[: self.length]
            self.data = grown
        self.data[self.length : end] = samples
        self.length = end

    def between(self, start: int, end: int) -> np.ndarray:
        """A copy of stream samples ``start`` to ``end`` (what is still kept of them)."""
        first = max(0, start - self.offset)
        return self.data[first : max(first, min(end - self.offset, self.length))].copy()

    def drop_before(self, start: int) -> None:
        count = start - self.offset
        self.data[: self.length - count] = self.data[count : self.length]
        self.length -= count
        self.offset = start


def words_end(utterance: Utterance, audio_end: int, count: int, heard: int) -> int:
    """Where the first ``count`` of the ``heard`` words since the utterance's speech start end,
    estimated by their share of the words (there are no word timestamps)."""
    if not heard:
        return utterance.speech_start
    return utterance.speech_start + (audio_end - utterance.speech_start) * count // heard
