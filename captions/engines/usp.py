"""USP message framing for Azure Speech WebSockets, with no I/O.

A text frame is CRLF-separated ``Name:value`` header lines, an empty line, then
the body. A binary frame is a 2-byte big-endian header length, the ASCII header
block (each line ending CRLF), then the payload. Every message carries a
``Path`` header naming its kind. Parsing trims and lower-cases header names, as
the SDKs do; anything malformed raises :class:`FramingError` and nothing else.
See ``WebsocketMessageFormatter.ts`` in microsoft/cognitive-services-speech-sdk-js.
"""

from __future__ import annotations

import datetime
import json
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CRLF = "\r\n"
MAX_HEADER_BYTES = 0x7FFF  # the JS SDK reads the length as a signed 16-bit integer


class FramingError(ValueError):
    """A WebSocket message that is not a well-formed USP message."""


@dataclass(frozen=True)
class Message:
    """One USP message: its path, headers (names lower-cased) and body.

    ``body`` is ``str`` for text frames and ``bytes`` for binary frames.
    """

    path: str
    body: str | bytes = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        return isinstance(self.body, bytes)

    @property
    def request_id(self) -> str:
        return self.headers.get("x-requestid", "")

    def json(self) -> Any:
        """The body decoded as JSON; an empty body is ``{}``."""
        if self.is_binary:
            raise FramingError(f"{self.path}: binary message has no JSON body")
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise FramingError(f"{self.path}: body is not JSON ({exc})") from None


def new_request_id() -> str:
    """A fresh 32-hex-digit id, the form of ``X-RequestId`` and ``X-ConnectionId``."""
    return uuid.uuid4().hex


def timestamp(now: datetime.datetime | None = None) -> str:
    """An ``X-Timestamp`` value: ISO 8601 in UTC with milliseconds."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(data: str | bytes) -> Message:
    """Parse one WebSocket message (``str`` for text frames, ``bytes`` for binary)."""
    if isinstance(data, str):
        return parse_text(data)
    if isinstance(data, bytes | bytearray | memoryview):
        return parse_binary(bytes(data))
    raise FramingError(f"expected str or bytes, not {type(data).__name__}")


def parse_text(data: str) -> Message:
    """Parse a text frame: headers, a blank line, the body."""
    head, sep, body = data.partition(CRLF + CRLF)
    if not sep:
        raise FramingError("text message has no blank line after its headers")
    return _message(_parse_headers(head), body)


def parse_binary(data: bytes) -> Message:
    """Parse a binary frame: header length, ASCII headers, payload."""
    if len(data) < 2:
        raise FramingError("binary message is shorter than its 2-byte header length")
    (length,) = struct.unpack(">H", data[:2])
    if length > MAX_HEADER_BYTES or len(data) < 2 + length:
        raise FramingError(f"binary message header length {length} exceeds the message")
    try:
        head = data[2 : 2 + length].decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("binary message headers are not ASCII") from None
    return _message(_parse_headers(head), data[2 + length :])


def _parse_headers(block: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(CRLF):
        if not line:
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise FramingError(f"malformed header line {line[:80]!r}")
        if "\r" in line or "\n" in line:
            raise FramingError(f"stray line break in header {name!r}")
        headers[name] = value.strip()
    return headers


def _message(headers: dict[str, str], body: str | bytes) -> Message:
    path = headers.get("path", "")
    if not path:
        raise FramingError("message has no Path header")
    return Message(path=path, body=body, headers=headers)


def build_text(path: str, body: str = "", headers: Mapping[str, str] | None = None) -> str:
    """Build a text frame; ``headers`` come after ``Path`` in the given order."""
    return _header_block(path, headers) + CRLF + body


def build_binary(
    path: str, payload: bytes = b"", headers: Mapping[str, str] | None = None
) -> bytes:
    """Build a binary frame around ``payload``."""
    block = _header_block(path, headers)
    try:
        raw = block.encode("ascii")
    except UnicodeEncodeError:
        raise FramingError("binary message headers must be ASCII") from None
    if len(raw) > MAX_HEADER_BYTES:
        raise FramingError(f"binary message headers are too long ({len(raw)} bytes)")
    return struct.pack(">H", len(raw)) + raw + bytes(payload)


def build_json(path: str, payload: Any, headers: Mapping[str, str] | None = None) -> str:
    """Build a text frame with a JSON body and ``Content-Type: application/json``."""
    merged = {"Content-Type": "application/json", **(headers or {})}
    return build_text(path, json.dumps(payload, separators=(",", ":")), merged)


def _header_block(path: str, headers: Mapping[str, str] | None) -> str:
    lines = []
    for name, value in {"Path": path, **(headers or {})}.items():
        _check_header(name, value)
        lines.append(f"{name}:{value}{CRLF}")
    return "".join(lines)


def _check_header(name: str, value: str) -> None:
    if not name or ":" in name or name != name.strip():
        raise FramingError(f"invalid header name {name!r}")
    if any(c in name + value for c in "\r\n") or value != value.strip():
        raise FramingError(f"invalid value for header {name!r}")
    if name.lower() == "path" and not value:
        raise FramingError("Path must not be empty")
