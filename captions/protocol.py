"""The JSON messages and close codes of the WebSocket API (docs/websocket-api.md). No I/O."""

from __future__ import annotations

import json
from typing import Any

# Close codes. 4000-4999 are for applications (RFC 6455 section 7.4.2).
CLOSE_UNAUTHORIZED = 4001  # missing or wrong presenter key, and no staff login
CLOSE_EVENT_NOT_FOUND = 4004
CLOSE_LANGUAGE_NOT_OFFERED = 4005
CLOSE_REPLACED = 4008  # another presenter connection took over the event
CLOSE_EVENT_ENDED = 4010  # the organizer ended the event; no audio accepted
CLOSE_TOO_SLOW = 4029  # a listener did not read its captions fast enough (it may reconnect)
CLOSE_TOO_MANY_ATTEMPTS = 4429  # too many wrong presenter keys lately, from this address or event
CLOSE_TOO_MANY_LISTENERS = 4503  # the address or event holds as many listener sockets as allowed
# The server could not catch a listener up after an outage: the page reconnects with ``after``
# and gets what it missed as history (any non-fatal close does that; this one says why).
CLOSE_RESUME = 1011

# The presenter's key travels in the handshake's Sec-WebSocket-Protocol header, never in a URL
# (URLs reach access logs): the client offers PRESENTER_SUBPROTOCOL, which the server echoes,
# and KEY_SUBPROTOCOL_PREFIX + key, which it never echoes.
PRESENTER_SUBPROTOCOL = "captions.v1"
KEY_SUBPROTOCOL_PREFIX = "key."

MAX_AUDIO_FRAME = 64 * 1024  # bytes: 2 s of 16 kHz PCM16; browsers send ~100 ms (3,200 bytes)
MAX_CONTROL_MESSAGE = 4 * 1024  # bytes of JSON


def dumps(message: dict[str, Any]) -> str:
    """Serialize compactly; captions keep non-ASCII text as is."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def caption(
    *,
    seq: int,
    language: str,
    final: bool,
    text: str,
    start: float,
    end: float,
    source_language: str,
    source_text: str | None = None,
    revision: int = 0,
) -> dict[str, Any]:
    """A partial or final caption of utterance ``seq`` in ``language``.

    A final corrected by a moderator carries its ``revision`` (1, 2...): it replaces the text
    shown for ``seq``, including a final's.
    """
    message: dict[str, Any] = {
        "type": "caption",
        "seq": seq,
        "segment_id": f"s{seq}",
        "final": final,
        "language": language,
        "text": text,
        "start": round(start, 3),
        "end": round(end, 3),
    }
    if source_text is not None:
        message["source_language"] = source_language
        message["source_text"] = source_text
    if revision:
        message["revision"] = revision
    return message


def withdrawal(
    *, seq: int, language: str, source_language: str, with_source: bool
) -> dict[str, Any]:
    """Withdraws the partial of utterance ``seq``, whose final will not come: empty final text."""
    return caption(
        seq=seq,
        language=language,
        final=True,
        text="",
        start=0.0,
        end=0.0,
        source_language=source_language,
        source_text="" if with_source else None,
    )


def status(state: str, **details: Any) -> dict[str, Any]:
    """The event's state: waiting, live, paused or ended."""
    return {"type": "status", "status": state, **details}


def error(code: str, detail: str, *, fatal: bool = False) -> dict[str, Any]:
    """A problem with the client's input or the engine; ``fatal`` means the stream stopped."""
    return {"type": "error", "code": code, "detail": detail, "fatal": fatal}


def speech(*, seq: int, language: str, url: str, content_type: str) -> dict[str, Any]:
    """Synthesized speech of final ``seq`` is ready to fetch."""
    return {
        "type": "speech",
        "seq": seq,
        "language": language,
        "url": url,
        "content_type": content_type,
    }


class ControlError(ValueError):
    """A presenter control message that cannot be accepted; ``code`` is sent back."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


PRESENTER_COMMANDS = {"start", "pause", "stop", "preview", "ping"}


def parse_control(text: str) -> dict[str, Any]:
    """Validate a presenter's JSON control message and return it."""
    message = parse_object(text)
    if message["type"] not in PRESENTER_COMMANDS:
        raise ControlError("unknown_type", f"unknown message type {message['type']!r}")
    if message["type"] == "preview" and not isinstance(message.get("language"), str):
        raise ControlError("malformed_message", 'preview needs a "language" string')
    return message


def parse_object(text: str) -> dict[str, Any]:
    """A client's JSON message: at most MAX_CONTROL_MESSAGE bytes, an object with a type."""
    if len(text.encode()) > MAX_CONTROL_MESSAGE:
        raise ControlError(
            "message_too_large", f"control messages are at most {MAX_CONTROL_MESSAGE} bytes"
        )
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ControlError("malformed_json", f"not valid JSON: {exc.msg}") from None
    except RecursionError:  # "[" * 2000: 4 KiB is enough to nest past Python's limit
        raise ControlError("malformed_json", "JSON nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ControlError("malformed_message", 'expected an object with a "type" string')
    return message


def presenter_subprotocols(key: str | None) -> list[str]:
    """What a presenter client offers in Sec-WebSocket-Protocol: the protocol, and its key."""
    return [PRESENTER_SUBPROTOCOL, *([KEY_SUBPROTOCOL_PREFIX + key] if key else [])]


def presenter_key(subprotocols: list[str]) -> str:
    """The presenter key offered in the handshake, or "" if none was."""
    for offered in subprotocols:
        if offered.startswith(KEY_SUBPROTOCOL_PREFIX):
            return offered.removeprefix(KEY_SUBPROTOCOL_PREFIX)
    return ""


def check_audio_frame(frame: bytes) -> None:
    """Raise ControlError unless ``frame`` can be PCM16 mono audio of a sane size."""
    if not frame:
        raise ControlError("empty_frame", "audio frames must not be empty")
    if len(frame) > MAX_AUDIO_FRAME:
        raise ControlError("frame_too_large", f"audio frames are at most {MAX_AUDIO_FRAME} bytes")
    if len(frame) % 2:
        raise ControlError("odd_frame", "PCM16 frames have an even number of bytes")
