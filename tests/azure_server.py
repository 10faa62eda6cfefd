"""A local server that speaks Azure's v1 speech-translation protocol, for tests.

It checks what a client sends (authentication, message order, request ids, the
WAV header, continuation contexts) and answers as the service does: turn.start
with a serviceTag, speech.startDetected, translation.hypothesis partials,
translation.phrase finals, translation.synthesis audio and .end, and at the end
of the stream an EndOfDictation final, speech.endDetected and turn.end.

Its "recognition" is deterministic and derived from the audio it receives: each
voiced stretch of PCM is a word, chosen by the tone's pitch (see ``say``), and a
silence of 300 ms ends a phrase. So what a client sees proves which audio
really arrived, including audio re-sent after a reconnect. Offsets count from
the first audio byte of each turn, in 100 ns ticks, like the service's.

``faults`` scripts misbehaviour, one entry per new connection: drop the TCP
connection mid-sentence, close with 1011 or 1007, and so on. A wrong key or
token is refused with HTTP 401 at the upgrade.
"""

from __future__ import annotations

import array
import json
import math
import urllib.parse
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from captions.engines import usp

SAMPLE_RATE = 16_000
TICKS_PER_SAMPLE = 625
FRAME = 160  # 10 ms analysis frames
VOICED_RMS = 500
PHRASE_GAP_FRAMES = 30  # 300 ms of silence ends a phrase
PATH = "/speech/translation/cognitiveservices/v1"
V2_PATH = "/stt/speech/universal/v2"

# A word is a tone at 100 Hz times its index here.
VOCABULARY = [
    "", "hello", "everyone", "welcome", "to", "the", "keynote", "contoso", "darn",
    "speech", "thank", "you", "questions", "today", "we", "talk",
]  # fmt: skip


def say(*words: str, word_seconds: float = 0.2, gap: float = 0.06, pause: float = 0.5) -> bytes:
    """PCM16 audio that this server recognizes as ``words`` followed by a phrase break."""
    pcm = b""
    for word in words:
        pcm += tone(100.0 * VOCABULARY.index(word), word_seconds) + silence(gap)
    return pcm + silence(pause)


def tone(frequency: float, seconds: float, amplitude: int = 8000) -> bytes:
    count = int(seconds * SAMPLE_RATE)
    step = 2 * math.pi * frequency / SAMPLE_RATE
    return array.array("h", (int(amplitude * math.sin(step * n)) for n in range(count))).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * SAMPLE_RATE))


def translate(text: str, language: str) -> str:
    return f"[{language}] {text}"


@dataclass
class Fault:
    """Misbehave on one connection, once ``after_finals`` finals and ``after_partials`` more
    partials have been sent (or, with ``at_context``, as soon as a context arrives)."""

    # "drop": abort the TCP connection; "close": a close frame with code and reason;
    # "end_turn": end the turn early (speech.endDetected, turn.end), as the service may;
    # "status": a final with RecognitionStatus ``reason`` (e.g. "Error", "BadRequest");
    # "mute" (with at_context): accept the connection but never answer.
    kind: str
    code: int = 1011
    reason: str = "service error"
    after_finals: int = 0
    after_partials: int = 0
    at_context: bool = False


@dataclass
class Connection:
    """What the server saw on one connection, for tests to inspect."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    subprotocol: str | None
    config: dict[str, Any] | None = None
    contexts: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    finals: list[dict[str, Any]] = field(default_factory=list)
    partials: int = 0


class Recognizer:
    """Turns PCM into words (voiced stretches) and phrases (words up to a long silence)."""

    def __init__(self) -> None:
        self.samples = 0  # samples analysed this turn
        self.carry = b""
        self.in_word = False
        self.word_start = 0
        self.crossings = 0
        self.last_sign = 0
        self.words: list[str] = []
        self.phrase_start = 0
        self.voiced_end = 0
        self.silent_frames = 0

    def feed(self, pcm: bytes) -> list[tuple[str, int, int, list[str]]]:
        """Analyse audio; return ("partial"|"final", start, end, words) in samples."""
        data = self.carry + pcm
        whole = len(data) - len(data) % (2 * FRAME)
        self.carry = data[whole:]
        out: list[tuple[str, int, int, list[str]]] = []
        for at in range(0, whole, 2 * FRAME):
            out += self._frame(array.array("h", data[at : at + 2 * FRAME]))
        return out

    def flush(self) -> list[tuple[str, int, int, list[str]]]:
        """End of stream: close the open word and phrase."""
        out = self._end_word() if self.in_word else []
        if self.words:
            out.append(("final", self.phrase_start, self.voiced_end, self.words))
            self.words = []
        return out

    def _frame(self, frame: array.array) -> list[tuple[str, int, int, list[str]]]:
        start = self.samples
        self.samples += len(frame)
        rms = math.sqrt(sum(s * s for s in frame) / len(frame))
        if rms >= VOICED_RMS:
            if not self.in_word:
                self.in_word, self.word_start, self.crossings = True, start, 0
                if not self.words:
                    self.phrase_start = start
            self._count_crossings(frame)
            self.voiced_end, self.silent_frames = self.samples, 0
            return []
        out = self._end_word() if self.in_word else []
        self.silent_frames += 1
        if self.words and self.silent_frames >= PHRASE_GAP_FRAMES:
            out.append(("final", self.phrase_start, self.voiced_end, self.words))
            self.words = []
        return out

    def _count_crossings(self, frame: array.array) -> None:
        for sample in frame:
            sign = (sample > 0) - (sample < 0)
            if sign and self.last_sign and sign != self.last_sign:
                self.crossings += 1
            if sign:
                self.last_sign = sign

    def _end_word(self) -> list[tuple[str, int, int, list[str]]]:
        self.in_word = False
        seconds = (self.voiced_end - self.word_start) / SAMPLE_RATE
        index = round(self.crossings / 2 / seconds / 100) if seconds else 0
        self.words = [*self.words, VOCABULARY[index] if 0 < index < len(VOCABULARY) else "hmm"]
        return [("partial", self.phrase_start, self.voiced_end, self.words)]


@dataclass
class Turn:
    request_id: str
    context: dict[str, Any]
    tag: str
    base: int  # session-absolute ticks where this turn's audio starts (from continuation)
    recognizer: Recognizer = field(default_factory=Recognizer)
    header_seen: bool = False
    started_speech: bool = False
    ended: bool = False


class AzureTestServer:
    """Run with ``async with AzureTestServer() as server:``; ``server.url`` is the endpoint."""

    def __init__(self, key: str = "test-key", token: str | None = None) -> None:
        self.key = key
        self.token = token
        self.faults: deque[Fault] = deque()
        self.connections: list[Connection] = []
        self.errors: list[str] = []  # protocol violations by the client
        self.continuations: list[tuple[str, int, int]] = []  # (tag, offset sent, expected)
        self.acked: dict[str, int] = {}  # service tag -> session-absolute ticks finalized
        self.tokens: dict[str, str] = {}  # service tag -> last X-Continuation-Token sent
        self.rejected = 0
        self.server: Server | None = None

    async def __aenter__(self) -> AzureTestServer:
        self.server = await serve(
            self._handle, "127.0.0.1", 0, subprotocols=["USP"], process_request=self._authorize
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return next(iter(self.server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

    @property
    def url_v2(self) -> str:
        """The universal v2 endpoint: settings in speech.context, translation.response replies."""
        return f"ws://127.0.0.1:{self.port}{V2_PATH}"

    def _authorize(self, connection: ServerConnection, request: Any) -> Any:
        key = request.headers.get("Ocp-Apim-Subscription-Key")
        bearer = request.headers.get("Authorization")
        if (key and key == self.key) or (self.token and bearer == f"Bearer {self.token}"):
            return None
        self.rejected += 1
        return connection.respond(HTTPStatus.UNAUTHORIZED, "Authentication failed\n")

    async def _handle(self, ws: ServerConnection) -> None:
        parsed = urllib.parse.urlsplit(ws.request.path)
        record = Connection(
            path=parsed.path,
            query=urllib.parse.parse_qs(parsed.query),
            headers={k.lower(): v for k, v in ws.request.headers.raw_items()},
            subprotocol=ws.subprotocol,
        )
        self.connections.append(record)
        if len(record.headers.get("x-connectionid", "")) != 32:
            self.errors.append("X-ConnectionId missing or not 32 hex digits")
        session = _Session(self, ws, record, self.faults.popleft() if self.faults else None)
        try:
            async for raw in ws:
                await session.receive(raw)
        except ConnectionClosed:
            pass


class _Session:
    """One connection's conversation."""

    def __init__(self, server: AzureTestServer, ws: ServerConnection, record: Connection,
                 fault: Fault | None) -> None:  # fmt: skip
        self.server, self.ws, self.record, self.fault = server, ws, record, fault
        self.turn: Turn | None = None
        self.v2 = record.path == V2_PATH  # the universal v2 endpoint: settings in the context
        self.partials_since_final = 0
        self.ended_requests: set[str] = set()  # audio may still be in flight for these

    def violation(self, text: str) -> None:
        self.server.errors.append(text)

    async def receive(self, raw: str | bytes) -> None:
        try:
            message = usp.parse(raw)
        except usp.FramingError as exc:
            self.violation(f"malformed message: {exc}")
            await self.ws.close(1007, f"malformed message: {exc}")
            return
        if "x-timestamp" not in message.headers:
            self.violation(f"{message.path} without X-Timestamp")
        if message.path == "speech.config":
            self.record.config = message.json()
        elif message.path == "speech.context":
            await self._context(message)
        elif message.path == "audio":
            await self._audio(message)
        elif message.path != "telemetry":  # the SDKs report timings; nothing to answer
            self.violation(f"unexpected message path {message.path}")

    async def _context(self, message: usp.Message) -> None:
        if self.record.config is None:
            self.violation("speech.context before speech.config")
        context = message.json()
        self.record.contexts.append(context)
        if self.fault and self.fault.at_context:
            if self.fault.kind != "mute":  # "mute": never answer, as a hung service
                await self._misbehave()
            return
        base = self._continuation(context.get("continuation"))
        self.turn = Turn(message.request_id, context, uuid.uuid4().hex, base)
        self.server.acked[self.turn.tag] = base
        await self.send("turn.start", {"context": {"serviceTag": self.turn.tag}})

    def _continuation(self, continuation: Any) -> int:
        if not continuation:
            return 0
        tag = continuation.get("previousServiceTag", "")
        streams = (continuation.get("audio") or {}).get("streams") or {}
        offset = int((streams.get("1") or {}).get("offset", 0))
        expected = self.server.acked.get(tag)
        if expected is None:
            self.violation(f"continuation names an unknown service tag {tag!r}")
        if continuation.get("token", "") != self.server.tokens.get(tag, ""):
            self.violation(
                f"continuation token {continuation.get('token')!r} is not the last given"
            )
        self.server.continuations.append((tag, offset, expected if expected is not None else -1))
        return offset

    async def _audio(self, message: usp.Message) -> None:
        if message.request_id in self.ended_requests:
            return  # in flight when the service ended that turn; the service ignores it
        turn = self.turn
        if turn is None or message.request_id != turn.request_id:
            if message.request_id not in self.ended_requests:
                self.violation("audio outside a turn or with another X-RequestId")
            return
        assert isinstance(message.body, bytes)
        if not turn.header_seen:
            turn.header_seen = True
            self._check_wav(message)
            return
        if turn.ended:
            self.violation("audio after the end of the stream")
            return
        if not message.body:
            await self._end_of_stream(turn)
            return
        self.record.audio += message.body
        for result in turn.recognizer.feed(message.body):
            await self._result(turn, *result)

    def _check_wav(self, message: usp.Message) -> None:
        body = message.body
        if message.headers.get("content-type") != "audio/x-wav":
            self.violation("first audio message is not Content-Type audio/x-wav")
        if len(body) != 44 or body[:4] != b"RIFF" or body[8:16] != b"WAVEfmt ":
            self.violation("first audio message is not a 44-byte WAV header")
        elif int.from_bytes(body[24:28], "little") != SAMPLE_RATE or body[22:24] != b"\1\0":
            self.violation("WAV header is not 16 kHz mono")

    async def _result(self, turn: Turn, kind: str, start: int, end: int, words: list[str]) -> None:
        if not turn.started_speech:
            turn.started_speech = True
            await self.send("speech.startDetected", {"Offset": start * TICKS_PER_SAMPLE})
        text = self._render(turn, words)
        offset, duration = start * TICKS_PER_SAMPLE, (end - start) * TICKS_PER_SAMPLE
        targets = self._targets(turn)
        if kind == "partial":
            await self.send(*self._partial(text, offset, duration, targets))
            self.record.partials += 1
            self.partials_since_final += 1
        else:
            path, body = self._final("Success", text, offset, duration, targets)
            await self.send(path, body, **self._reliable_reconnect(turn, offset + duration))
            self.server.acked[turn.tag] = turn.base + offset + duration
            self.record.finals.append(body)
            self.partials_since_final = 0
            await self._synthesize(turn, {lang: translate(text, lang) for lang in targets})
        await self._maybe_misbehave()

    def _reliable_reconnect(self, turn: Turn, acked: int) -> dict[str, str]:
        """Headers of the reliable-reconnect contract: an opaque token, the turn-relative
        offset up to which audio needs no re-sending (here, the end of the final)."""
        token = f"ct-{turn.tag}-{acked}"
        self.server.tokens[turn.tag] = token
        return {"X-Continuation-Token": token, "X-Continuation-Audio-Streams-1-Offset": str(acked)}

    def _partial(self, text: str, offset: int, duration: int, targets: list[str]) -> tuple:
        """A translation.hypothesis (v1) or a translation.response with SpeechHypothesis (v2)."""
        speech = {"Text": text, "Offset": offset, "Duration": duration}
        if self.v2:
            items = [{"Language": lang, "DisplayText": translate(text, lang)} for lang in targets]
            hypothesis = {"SpeechHypothesis": speech, "TranslationStatus": "Success"}
            return "translation.response", {**hypothesis, "Translations": items}
        items = [{"Language": lang, "Text": translate(text, lang)} for lang in targets]
        return "translation.hypothesis", {**speech, "Translation": {"Translations": items}}

    def _final(self, status: str, text: str, offset: int, duration: int,
               targets: list[str]) -> tuple:  # fmt: skip
        """A translation.phrase (v1) or a translation.response with SpeechPhrase (v2)."""
        translation = {"TranslationStatus": "Success", "Translations": [
            {"Language": lang, ("DisplayText" if self.v2 else "Text"): translate(text, lang)}
            for lang in targets]} if status == "Success" else {}  # fmt: skip
        if self.v2:
            phrase = {"RecognitionStatus": status, "DisplayText": text, "Offset": offset,
                      "Duration": duration}  # fmt: skip
            return "translation.response", {"SpeechPhrase": phrase, **translation}
        body = {"RecognitionStatus": status, "Text": text, "Offset": offset, "Duration": duration}
        if status not in ("Success", "EndOfDictation"):
            body["FailureReason"] = "scripted failure"
        return "translation.phrase", {
            **body,
            **({"Translation": translation} if translation else {}),
        }

    def _render(self, turn: Turn, words: list[str]) -> str:
        phrases = _phrase_list(turn.context)
        rendered = [phrases.get(word, word) for word in words]
        profanity = (self.record.query.get("profanity") or ["masked"])[0]
        if self.v2:
            detection = turn.context.get("phraseDetection") or {}
            profanity = (detection.get("enrichment") or {}).get("profanity", "masked")
        if profanity == "masked":
            rendered = ["*" * len(w) if w == "darn" else w for w in rendered]
        elif profanity == "removed":
            rendered = [w for w in rendered if w != "darn"]
        return " ".join(rendered)

    def _targets(self, turn: Turn) -> list[str]:
        languages = (turn.context.get("translation") or {}).get("targetLanguages")
        query = self.record.query.get("to", [])
        if self.v2:
            return list(languages or [])
        if languages is not None and sorted(languages) != sorted(query):
            self.violation(f"targetLanguages {languages} differ from the URL's to={query}")
        return list(languages if languages is not None else query)

    async def _synthesize(self, turn: Turn, translations: dict[str, str]) -> None:
        synthesis = turn.context.get("synthesis") or {}
        voices = synthesis.get("defaultVoices") or {}
        action = ((turn.context.get("translation") or {}).get("onSuccess") or {}).get("action")
        if action != "Synthesize" or not voices:
            return
        path = "audio" if self.v2 else "translation.synthesis"
        for language, text in translations.items():
            voice = voices.get(language)
            if voice and language in synthesis.get("synthesizedLanguages", [language]):
                audio = synthesized(voice, text)
                for at in range(0, len(audio), 4096):
                    await self.send_binary(path, audio[at : at + 4096])
        await self.send(path + ".end", {"Status" if self.v2 else "SynthesisStatus": "Success"})

    async def _end_of_stream(self, turn: Turn) -> None:
        turn.ended = True
        for result in turn.recognizer.flush():
            await self._result(turn, *result)
        end = turn.recognizer.samples * TICKS_PER_SAMPLE
        await self.send(*self._final("EndOfDictation", "", end, 0, []))
        self.server.acked[turn.tag] = turn.base + end
        await self.send("speech.endDetected", {"Offset": end})
        await self.send("turn.end", {})

    async def _maybe_misbehave(self) -> None:
        fault = self.fault
        if fault is None or fault.at_context:
            return
        if len(self.record.finals) >= fault.after_finals and (
            self.partials_since_final >= fault.after_partials
        ):
            await self._misbehave()

    async def _misbehave(self) -> None:
        fault, self.fault = self.fault, None
        assert fault is not None
        if fault.kind == "drop":
            self.ws.transport.abort()
        elif fault.kind == "end_turn" and self.turn is not None:
            self.turn.ended = True
            self.ended_requests.add(self.turn.request_id)
            await self.send("speech.endDetected", {"Offset": self.turn.recognizer.samples * 625})
            await self.send("turn.end", {})
        elif fault.kind == "status" and self.turn is not None:
            await self.send(*self._final(fault.reason, "", 0, 0, []))
        else:
            await self.ws.close(fault.code, fault.reason)

    async def send(self, path: str, body: dict[str, Any], **extra: str) -> None:
        headers = {"X-RequestId": self.turn.request_id if self.turn else "",
                   "Content-Type": "application/json; charset=utf-8", **extra}  # fmt: skip
        await self.ws.send(usp.build_text(path, _json(body), headers))

    async def send_binary(self, path: str, payload: bytes) -> None:
        headers = {"X-RequestId": self.turn.request_id if self.turn else ""}
        await self.ws.send(usp.build_binary(path, payload, headers))


def synthesized(voice: str, text: str) -> bytes:
    """Stand-in speech: a WAV header, then the voice and text so tests can tell them apart."""
    marker = f"{voice}|{text}".encode()
    return b"RIFF" + (36 + len(marker)).to_bytes(4, "little") + b"WAVE" + marker


def _phrase_list(context: dict[str, Any]) -> dict[str, str]:
    dgi = context.get("dgi") or {}
    phrases: dict[str, str] = {}
    for group in dgi.get("Groups") or dgi.get("groups") or []:
        for item in group.get("Items") or group.get("items") or []:
            text = item.get("Text") or item.get("text") or ""
            phrases[text.lower()] = text
    return phrases


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body)
