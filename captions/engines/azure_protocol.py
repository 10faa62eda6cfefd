"""The speech-translation conversation with Azure, as a state machine with no I/O.

Feed it the presenter's audio and the service's messages; take from it the
messages to send and the results to yield. It keeps the audio that no final has
covered yet, so that after a dropped connection a new one resumes exactly where
the service last acknowledged: it re-sends that audio with a continuation
context, rebases the service's turn-relative offsets, and drops finals it has
already reported. Modelled on ``ServiceRecognizerBase.ts``, ``RequestSession.ts``
and ``TranslationServiceRecognizer.ts`` in microsoft/cognitive-services-speech-sdk-js.
"""

from __future__ import annotations

import logging
import platform
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import usp
from .base import SAMPLE_RATE, SAMPLE_WIDTH, CaptionResult, ResultKind, SpeechResult

logger = logging.getLogger(__name__)

TICKS_PER_SECOND = 10_000_000  # service offsets are in 100 ns ticks
TICKS_PER_SAMPLE = TICKS_PER_SECOND // SAMPLE_RATE
CHUNK_BYTES = SAMPLE_RATE * SAMPLE_WIDTH // 10  # 100 ms, as the SDKs send
MAX_REPLAY_BYTES = 120 * SAMPLE_RATE * SAMPLE_WIDTH  # keep at most 2 minutes unacknowledged
MAX_PHRASES = 500  # the service's phrase-list limit
STREAM_ID = "1"
V1_PATH = "/speech/translation/cognitiveservices/v1"
V2_PATH = "/stt/speech/universal/v2"


def bytes_to_ticks(count: int) -> int:
    return count // SAMPLE_WIDTH * TICKS_PER_SAMPLE


def ticks_to_bytes(ticks: int) -> int:
    return ticks // TICKS_PER_SAMPLE * SAMPLE_WIDTH


def wav_header(sample_rate: int = SAMPLE_RATE) -> bytes:
    """The 44-byte RIFF header the SDKs send first, sizes left at 0 for a stream."""
    byte_rate = sample_rate * SAMPLE_WIDTH
    return (
        b"RIFF\0\0\0\0WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + sample_rate.to_bytes(4, "little")
        + byte_rate.to_bytes(4, "little")
        + SAMPLE_WIDTH.to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data\0\0\0\0"
    )


@dataclass(frozen=True)
class TranslationSettings:
    """What one session asks of the service, already in Azure's language codes."""

    source_locale: str
    targets: Mapping[str, str]  # Azure target code -> project language code
    phrases: tuple[str, ...] = ()
    profanity: str = "masked"
    voice_language: str | None = None  # Azure target code to synthesize
    voice: str | None = None
    v2: bool = False  # the universal v2 endpoint: every setting goes in speech.context

    @property
    def speaks(self) -> bool:
        return bool(self.voice and self.voice_language)


def build_url(base: str, settings: TranslationSettings) -> str:
    """The v1 endpoint URL with from/to/profanity and, for speech output, features/voice.

    The v2 endpoint takes no query: its settings travel in ``speech.context``.
    """
    if settings.v2:
        return base
    query: list[tuple[str, str]] = [("from", settings.source_locale)]
    query += [("to", code) for code in settings.targets]
    query.append(("profanity", settings.profanity))
    if settings.speaks:
        query += [("features", "texttospeech"), ("voice", settings.voice or "")]
    separator = "&" if "?" in base else "?"
    return base + separator + urllib.parse.urlencode(query)


@dataclass(frozen=True)
class TurnEnded:
    """The service ended a turn; ``finished`` when it was the last one."""

    finished: bool


@dataclass(frozen=True)
class ServiceFailure:
    """The service reported an error inside a turn; ``permanent`` if retrying cannot help."""

    detail: str
    permanent: bool = False


# RecognitionStatus values that fail the turn, and whether retrying can help
# (EnumTranslation.ts: Error and TooManyRequests are service trouble, BadRequest
# and Forbidden - e.g. a free tier out of quota - are not).
FAILURE_STATUSES = {"Error": False, "TooManyRequests": False, "BadRequest": True, "Forbidden": True}


ProtocolEvent = CaptionResult | SpeechResult | TurnEnded | ServiceFailure


class TranslationProtocol:
    """One presenter's stream, across as many connections as it takes."""

    def __init__(self, settings: TranslationSettings) -> None:
        self.settings = settings
        self.request_id = ""
        self.service_tag: str | None = None  # from the last turn.start, for continuation
        self.continuation_token: str | None = None  # X-Continuation-Token, echoed back
        self.connected = False
        self.ending = False  # the caller has no more audio
        self.finished = False
        self.in_utterance = False  # a partial is showing that no final has replaced yet
        self.acked_ticks = 0  # session audio covered by finals
        self.buffer = bytearray()  # framed audio not yet covered by a final
        self.buffer_start = 0  # session byte position of buffer[0]
        self.pending = bytearray()  # audio shorter than one chunk, not framed yet
        self.turn_base = 0  # session byte position where the current turn's audio starts
        self._reported: set[int] = set()  # start ticks of finals already yielded
        self._last_final: str | None = None  # segment id synthesized audio belongs to
        self._synthesis = bytearray()
        self._out: list[str | bytes] = []
        self._events: list[ProtocolEvent] = []

    # Output side.

    def data_to_send(self) -> list[str | bytes]:
        """Messages to write to the WebSocket, in order."""
        out, self._out = self._out, []
        return out

    def events_received(self) -> list[ProtocolEvent]:
        """Results and turn events produced since the last call."""
        events, self._events = self._events, []
        return events

    # Connection lifecycle.

    def connection_made(self) -> None:
        """Called when a WebSocket is open: configure it and resume the audio."""
        self.connected = True
        self._out.append(usp.build_json("speech.config", speech_config(), _stamp()))
        self._start_turn()

    def connection_lost(self) -> None:
        """Called when the WebSocket closed; audio keeps being buffered for the next one."""
        self.connected = False
        self._synthesis.clear()
        # Unsent messages belonged to the old connection; the next one re-sends the audio.
        self._out.clear()

    def _start_turn(self) -> None:
        """Send the context and re-send every byte no final has covered yet."""
        self.request_id = usp.new_request_id()
        self.turn_base = self.buffer_start
        self._out.append(usp.build_json("speech.context", self.speech_context(), self._headers()))
        self._out.append(self._audio_message(wav_header(), {"Content-Type": "audio/x-wav"}))
        for start in range(0, len(self.buffer), CHUNK_BYTES):
            self._out.append(self._audio_message(bytes(self.buffer[start : start + CHUNK_BYTES])))
        if self.ending:
            self._out.append(self._audio_message(b""))

    def speech_context(self) -> dict[str, Any]:
        """The ``speech.context`` body for the next turn."""
        settings = self.settings
        translation: dict[str, Any] = {
            "targetLanguages": list(settings.targets),
            "output": {"includePassThroughResults": True},
        }
        context: dict[str, Any] = {"translation": translation}
        if settings.v2:
            context["phraseDetection"] = {
                "mode": "CONVERSATION",
                "language": settings.source_locale,
                "onSuccess": {"action": "Translate"},
                "onInterim": {"action": "Translate"},
                "enrichment": {"profanity": settings.profanity},
            }
        if settings.phrases:
            items = [{"Text": phrase} for phrase in settings.phrases[:MAX_PHRASES]]
            context["dgi"] = {"Groups": [{"Type": "Generic", "Items": items}], "bias": 1.0}
        if settings.speaks:
            translation["onSuccess"] = translation["onPassthrough"] = {"action": "Synthesize"}
            context["synthesis"] = {
                "synthesizedLanguages": [settings.voice_language],
                "defaultVoices": {settings.voice_language: settings.voice},
            }
        context["audio"] = {"streams": {STREAM_ID: None}}
        if self.service_tag is not None:
            # Where the re-sent audio starts, as the native SDK sends it (a string; the
            # JS SDK sends a number), and the service's token if it gave one.
            resume = bytes_to_ticks(self.buffer_start)
            context["continuation"] = {
                "previousServiceTag": self.service_tag,
                "audio": {"streams": {STREAM_ID: {"offset": str(resume)}}},
            }
            if self.continuation_token:
                context["continuation"]["token"] = self.continuation_token
        return context

    # Audio from the presenter.

    def send_audio(self, pcm: bytes) -> None:
        """Re-chunk the caller's audio into 100 ms messages; buffer it until a final covers it."""
        if self.ending:
            return
        self.pending += pcm
        while len(self.pending) >= CHUNK_BYTES:
            self._frame(bytes(self.pending[:CHUNK_BYTES]))
            del self.pending[:CHUNK_BYTES]

    def send_end(self) -> None:
        """No more audio: flush the remainder and send the empty end-of-stream message."""
        if self.ending:
            return
        if self.pending:
            self._frame(bytes(self.pending))
            self.pending.clear()
        self.ending = True
        if self.connected:
            self._out.append(self._audio_message(b""))

    def _frame(self, chunk: bytes) -> None:
        self.buffer += chunk
        if self.connected:
            self._out.append(self._audio_message(chunk))
        overflow = len(self.buffer) - MAX_REPLAY_BYTES
        if overflow > 0:
            # The service has not finalized for minutes; forget the oldest audio.
            self._trim(self.buffer_start + overflow)

    def _audio_message(self, payload: bytes, extra: dict[str, str] | None = None) -> bytes:
        headers = {
            **_stamp(),
            **(extra or {}),
            "X-RequestId": self.request_id,
            "X-StreamId": STREAM_ID,
        }
        return usp.build_binary("audio", payload, headers)

    def _headers(self) -> dict[str, str]:
        return {**_stamp(), "X-RequestId": self.request_id}

    # Messages from the service.

    def receive(self, data: str | bytes) -> None:
        """Handle one WebSocket message; raises usp.FramingError if it is malformed."""
        message = usp.parse(data)
        if message.request_id and message.request_id.lower() != self.request_id.lower():
            logger.debug("ignoring %s for an earlier request", message.path)
            return
        path = message.path.lower()
        handler = _HANDLERS.get(path)
        if handler is not None:
            handler(self, message)
        self._reliable_reconnect(message.headers)  # after the handler: a final may carry them

    def _reliable_reconnect(self, headers: Mapping[str, str]) -> None:
        """Keep the continuation token and acknowledged offset the service may send.

        As ``ReconnectContinuationState.ts``: the offset is turn-relative; audio before
        it needs no re-sending.
        """
        token = headers.get("x-continuation-token")
        if token:
            self.continuation_token = token
        offset = headers.get("x-continuation-audio-streams-1-offset", "")
        if offset.isdigit():
            self._acknowledge(bytes_to_ticks(self.turn_base) + int(offset))

    def _on_turn_start(self, message: usp.Message) -> None:
        body = message.json()
        context = body.get("context") if isinstance(body, dict) else None
        tag = context.get("serviceTag") if isinstance(context, dict) else None
        self.service_tag = str(tag or "")

    def _on_turn_end(self, message: usp.Message) -> None:
        if self.ending:
            self.finished = True
            self._events.append(TurnEnded(finished=True))
            return
        self._events.append(TurnEnded(finished=False))
        # Continuous recognition: a new turn on the same connection, as the SDKs do.
        self._start_turn()

    def _on_hypothesis(self, message: usp.Message) -> None:
        body = _object(message)
        self._emit_caption(ResultKind.PARTIAL, body, body.get("Translation"))

    def _on_phrase(self, message: usp.Message) -> None:
        body = _object(message)
        self._phrase(body, body.get("Translation"))

    def _on_response(self, message: usp.Message) -> None:
        """The v2 shape: ``SpeechHypothesis`` or ``SpeechPhrase`` beside the translations."""
        body = _object(message)
        if isinstance(body.get("SpeechPhrase"), dict):
            phrase = dict(body["SpeechPhrase"])
            phrase.setdefault("Text", phrase.get("DisplayText", ""))
            self._phrase(phrase, body)
        elif isinstance(body.get("SpeechHypothesis"), dict):
            self._emit_caption(ResultKind.PARTIAL, body["SpeechHypothesis"], body)

    def _phrase(self, phrase: dict[str, Any], translation: Any) -> None:
        status = str(phrase.get("RecognitionStatus", "Success"))
        start, end = self._span(phrase)
        if status in FAILURE_STATUSES:
            reason = phrase.get("FailureReason") or "recognition failed"
            self._events.append(ServiceFailure(f"{status}: {reason}", FAILURE_STATUSES[status]))
            return
        duplicate = (end <= self.acked_ticks and end > start) or start in self._reported
        self._acknowledge(end)
        self.in_utterance = False
        if status != "Success" or duplicate:
            self._last_final = None
            return
        self._reported.add(start)
        self._emit_caption(ResultKind.FINAL, phrase, translation)

    def _emit_caption(self, kind: ResultKind, body: dict[str, Any], translation: Any) -> None:
        start, end = self._span(body)
        if kind is ResultKind.PARTIAL and end <= self.acked_ticks and end > start:
            return  # a re-sent stretch the service already finalized
        segment_id = f"az-{start // 10_000}"
        if kind is ResultKind.FINAL:
            self._last_final = segment_id
        self.in_utterance = kind is ResultKind.PARTIAL
        self._events.append(
            CaptionResult(
                kind=kind,
                segment_id=segment_id,
                source_text=str(body.get("Text") or body.get("DisplayText") or ""),
                translations=self._translations(translation),
                start=start / TICKS_PER_SECOND,
                end=end / TICKS_PER_SECOND,
            )
        )

    def _translations(self, translation: Any) -> dict[str, str]:
        if not isinstance(translation, dict):
            return {}
        if translation.get("TranslationStatus") not in (None, "Success", 0):
            logger.warning("translation failed: %s", translation.get("FailureReason"))
        texts: dict[str, str] = {}
        lookup = {code.lower(): lang for code, lang in self.settings.targets.items()}
        items = translation.get("Translations")
        for item in items if isinstance(items, list) else []:  # a malformed list: none
            if not isinstance(item, dict):
                continue
            language = lookup.get(str(item.get("Language", "")).lower())
            if language is not None:
                texts[language] = str(item.get("Text") or item.get("DisplayText") or "")
        return texts

    def _span(self, body: dict[str, Any]) -> tuple[int, int]:
        """Session-absolute start and end ticks of a result (the service counts per turn)."""
        try:
            offset, duration = int(body.get("Offset", 0)), int(body.get("Duration", 0))
        except (TypeError, ValueError, OverflowError):
            raise usp.FramingError("Offset and Duration must be integers") from None
        start = bytes_to_ticks(self.turn_base) + offset
        return start, start + max(duration, 0)

    def _acknowledge(self, end_ticks: int) -> None:
        if end_ticks <= self.acked_ticks:
            return
        self.acked_ticks = end_ticks
        self._trim(ticks_to_bytes(end_ticks))

    def _trim(self, position: int) -> None:
        drop = min(position - self.buffer_start, len(self.buffer))
        if drop > 0:
            del self.buffer[:drop]
            self.buffer_start += drop

    def _on_synthesis(self, message: usp.Message) -> None:
        if isinstance(message.body, bytes):
            self._synthesis += message.body

    def _on_synthesis_end(self, message: usp.Message) -> None:
        body = _object(message)
        audio, self._synthesis = bytes(self._synthesis), bytearray()
        status = body.get("SynthesisStatus") or body.get("Status")
        if status not in (None, "Success"):
            logger.warning("speech synthesis failed: %s", body.get("FailureReason"))
            return
        language = self.settings.targets.get(self.settings.voice_language or "")
        if audio and self._last_final and language:
            self._events.append(SpeechResult(self._last_final, language, audio, "audio/wav"))


def _object(message: usp.Message) -> dict[str, Any]:
    body = message.json()
    if not isinstance(body, dict):
        raise usp.FramingError(f"{message.path}: body is not a JSON object")
    return body


def _stamp() -> dict[str, str]:
    return {"X-Timestamp": usp.timestamp()}


def speech_config() -> dict[str, Any]:
    """The ``speech.config`` body: who we are and what audio we send."""
    return {
        "context": {
            "system": {
                "name": "live-captions",
                "version": "0.1.0",
                "build": "Python",
                "lang": "Python",
            },
            "os": {
                "platform": platform.system(),
                "name": platform.platform(),
                "version": platform.release(),
            },
            "audio": {
                "source": {
                    "type": "Stream",
                    "model": "",
                    "samplerate": str(SAMPLE_RATE),
                    "bitspersample": "16",
                    "channelcount": "1",
                }
            },
        }
    }


_HANDLERS = {
    "turn.start": TranslationProtocol._on_turn_start,
    "turn.end": TranslationProtocol._on_turn_end,
    "translation.hypothesis": TranslationProtocol._on_hypothesis,
    "translation.phrase": TranslationProtocol._on_phrase,
    "translation.response": TranslationProtocol._on_response,
    "translation.synthesis": TranslationProtocol._on_synthesis,
    "audio": TranslationProtocol._on_synthesis,
    "translation.synthesis.end": TranslationProtocol._on_synthesis_end,
    "audio.end": TranslationProtocol._on_synthesis_end,
}
