"""The pure message layer: control parsing and audio frame checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captions import protocol

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(st.text())
def test_any_text_either_parses_or_raises_a_control_error(text):
    try:
        message = protocol.parse_control(text)
    except protocol.ControlError as exc:
        assert exc.code
    else:
        assert message["type"] in protocol.PRESENTER_COMMANDS


@given(json_values)
def test_any_json_value_either_parses_or_raises_a_control_error(value):
    try:
        protocol.parse_control(json.dumps(value))
    except protocol.ControlError:
        pass


@given(st.binary(max_size=protocol.MAX_AUDIO_FRAME + 10))
def test_audio_frames_are_accepted_exactly_when_non_empty_even_and_small(frame):
    ok = 0 < len(frame) <= protocol.MAX_AUDIO_FRAME and len(frame) % 2 == 0
    try:
        protocol.check_audio_frame(frame)
    except protocol.ControlError:
        assert not ok
    else:
        assert ok


def test_a_caption_without_source_text_does_not_mention_the_source():
    message = protocol.caption(
        seq=3, language="es", final=True, text="hola", start=1.0, end=2.0, source_language="en"
    )
    assert "source_text" not in message and "source_language" not in message
    assert message["segment_id"] == "s3"


@pytest.mark.parametrize("command", sorted(protocol.PRESENTER_COMMANDS - {"preview"}))
def test_every_command_parses(command):
    assert protocol.parse_control(json.dumps({"type": command}))["type"] == command
