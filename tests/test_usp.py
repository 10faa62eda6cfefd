"""USP framing: building and parsing text and binary messages, with no network."""

from __future__ import annotations

import datetime
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captions.engines import usp

pytestmark = pytest.mark.timeout(60)

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
    min_size=1,
    max_size=20,
)
VALUE = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
HEADERS = st.dictionaries(TOKEN.filter(lambda n: n.lower() != "path"), VALUE, max_size=5).filter(
    lambda h: len({n.lower() for n in h}) == len(h)
)


def test_a_text_message_from_the_native_sdk_parses_into_path_headers_and_json():
    raw = (
        "X-Timestamp:2026-11-24T21:54:30.446Z\r\nPath:speech.context\r\n"
        'X-RequestId:ea350c50d2d348f3a34a43d59519c177\r\n\r\n{"a":1}'
    )
    message = usp.parse(raw)
    assert message.path == "speech.context"
    assert message.request_id == "ea350c50d2d348f3a34a43d59519c177"
    assert message.json() == {"a": 1}
    assert not message.is_binary


def test_header_names_are_trimmed_and_lower_cased_and_values_trimmed_as_the_js_sdk_does():
    message = usp.parse("Path: turn.start\r\n X-RequestId : abc \r\n\r\n")
    assert message.headers == {"path": "turn.start", "x-requestid": "abc"}
    assert message.json() == {}


def test_a_binary_audio_message_parses_into_headers_and_payload():
    block = b"Path:audio\r\nX-RequestId:abc\r\nX-StreamId:1\r\n"
    message = usp.parse(struct.pack(">H", len(block)) + block + b"\x01\x02")
    assert message.path == "audio"
    assert message.body == b"\x01\x02"
    assert message.headers["x-streamid"] == "1"


def test_an_empty_payload_is_the_end_of_stream_audio_message():
    message = usp.parse(usp.build_binary("audio", b"", {"X-RequestId": "r"}))
    assert message.is_binary and message.body == b""


def test_json_messages_carry_a_content_type():
    message = usp.parse(usp.build_json("speech.config", {"context": {}}))
    assert message.headers["content-type"] == "application/json"
    assert message.json() == {"context": {}}


def test_timestamps_are_utc_iso_8601_with_milliseconds():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=datetime.UTC)
    assert usp.timestamp(when) == "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "Path:turn.start",  # no blank line
        "\r\n\r\n{}",  # no Path
        "Path\r\n\r\n",  # header without a colon
        ":value\r\nPath:x\r\n\r\n",  # empty header name
        b"",
        b"\x00",
        b"\x00\x10Path:audio",  # header length beyond the message
        b"\x00\x04\xff\xfe\r\n",  # not ASCII
        b"\x00\x0cX-Foo:bar\r\n",  # no Path
        b"\xff\xff" + b"x" * 10,
    ],
)
def test_malformed_messages_raise_framing_error(raw):
    with pytest.raises(usp.FramingError):
        usp.parse(raw)


def test_a_non_json_body_raises_framing_error():
    with pytest.raises(usp.FramingError):
        usp.parse("Path:translation.phrase\r\n\r\n{not json").json()


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nb"}, {"Bad:Name": "x"}, {"": "x"}])
def test_building_refuses_headers_that_would_break_the_framing(headers):
    with pytest.raises(usp.FramingError):
        usp.build_text("speech.context", "{}", headers)


def test_building_a_binary_message_refuses_non_ascii_headers():
    with pytest.raises(usp.FramingError):
        usp.build_binary("audio", b"", {"X-Name": "café"})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_input_either_parses_or_raises_framing_error_and_nothing_else(raw):
    try:
        message = usp.parse(raw)
    except usp.FramingError:
        return
    assert message.path
    try:
        message.json()
    except usp.FramingError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.binary(max_size=60))
def test_binary_frames_with_random_header_blocks_never_raise_anything_but_framing_error(head, tail):
    raw = struct.pack(">H", len(head)) + head + tail
    try:
        usp.parse(raw)
    except usp.FramingError:
        pass


@settings(max_examples=200, deadline=None)
@given(TOKEN, HEADERS, st.text(max_size=200))
def test_text_messages_round_trip(path, headers, body):
    message = usp.parse(usp.build_text(path, body, headers))
    assert message.path == path
    assert message.body == body
    assert message.headers == {"path": path, **{k.lower(): v for k, v in headers.items()}}


@settings(max_examples=200, deadline=None)
@given(TOKEN, HEADERS, st.binary(max_size=500))
def test_binary_messages_round_trip(path, headers, payload):
    message = usp.parse(usp.build_binary(path, payload, headers))
    assert message.path == path
    assert message.body == payload
    assert message.headers == {"path": path, **{k.lower(): v for k, v in headers.items()}}
