"""The Azure conversation state machine on its own: messages in, results out, no network."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from captions.engines import azure_protocol, usp

pytestmark = pytest.mark.timeout(60)


def protocol() -> azure_protocol.TranslationProtocol:
    settings = azure_protocol.TranslationSettings("en-US", {"de": "de", "zh-Hans": "zh"})
    proto = azure_protocol.TranslationProtocol(settings)
    proto.connection_made()
    proto.data_to_send()
    return proto


def reply(proto, path: str, body: str) -> None:
    proto.receive(f"Path:{path}\r\nX-RequestId:{proto.request_id}\r\n\r\n{body}")


def test_the_v2_translation_response_shape_is_parsed_too():
    proto = protocol()
    hypothesis = {
        "SpeechHypothesis": {"Text": "hi", "Offset": 0, "Duration": 5},
        "Translations": [{"Language": "zh-Hans", "DisplayText": "你好"}],
    }
    phrase = {
        "SpeechPhrase": {"RecognitionStatus": "Success", "DisplayText": "Hi.", "Offset": 0,
                         "Duration": 5_000_000},
        "TranslationStatus": "Success",
        "Translations": [{"Language": "de", "DisplayText": "Hallo."}],
    }  # fmt: skip
    reply(proto, "translation.response", json.dumps(hypothesis))
    reply(proto, "translation.response", json.dumps(phrase))
    partial, final = proto.events_received()
    assert (partial.source_text, dict(partial.translations)) == ("hi", {"zh": "你好"})
    assert (final.source_text, dict(final.translations), final.end) == (
        "Hi.",
        {"de": "Hallo."},
        0.5,
    )


def test_a_final_repeated_by_the_service_is_reported_once():
    proto = protocol()
    body = '{"RecognitionStatus":"Success","Text":"hi","Offset":100,"Duration":5000000}'
    reply(proto, "translation.phrase", body)
    reply(proto, "translation.phrase", body)
    assert len(proto.events_received()) == 1


def test_messages_for_an_earlier_request_are_ignored():
    proto = protocol()
    proto.receive('Path:translation.hypothesis\r\nX-RequestId:0ld\r\n\r\n{"Text":"x"}')
    assert proto.events_received() == []


def test_audio_is_rechunked_into_100_ms_messages_and_kept_until_a_final_covers_it():
    proto = protocol()
    proto.send_audio(bytes(5000))
    proto.send_audio(bytes(5000))
    sizes = [len(usp.parse(m).body) for m in proto.data_to_send()]
    assert sizes == [3200, 3200, 3200]
    reply(proto, "translation.phrase", '{"RecognitionStatus":"Success","Text":"a","Offset":0,'
          '"Duration":2000000}')  # fmt: skip
    assert proto.buffer_start == 6400 and len(proto.buffer) == 3200
    proto.send_end()
    sizes = [len(usp.parse(m).body) for m in proto.data_to_send()]
    assert sizes == [400, 0]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["Text", "Offset", "Duration", "Translation", "Translations",
                         "Language", "RecognitionStatus", "SpeechPhrase", "SpeechHypothesis",
                         "context", "serviceTag", "SynthesisStatus", "DisplayText"]),
        children, max_size=5,
    ),
    max_leaves=20,
)  # fmt: skip
LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
FIELDS = [
    "Text",
    "DisplayText",
    "Offset",
    "Duration",
    "RecognitionStatus",
    "FailureReason",
    "Translation",
    "Translations",
    "TranslationStatus",
    "Language",
    "SpeechPhrase",
    "SpeechHypothesis",
    "context",
    "serviceTag",
    "SynthesisStatus",
    "Status",
]
SHAPED = st.recursive(
    LEAF, lambda children: st.dictionaries(st.sampled_from(FIELDS), children, max_size=6)
    | st.lists(children, max_size=3), max_leaves=25,
)  # fmt: skip
PATHS = st.sampled_from(sorted(azure_protocol._HANDLERS) + ["speech.startDetected", "x"])


@settings(max_examples=300, deadline=None)
@given(PATHS, JSON | SHAPED)
# Found by this test on 2026-12-05: "Translations" not a list raised TypeError.
@example("translation.hypothesis", {"Translation": {"Text": None, "Translations": 1}})
def test_any_service_message_either_works_or_raises_framing_error(path, body):
    proto = protocol()
    try:
        reply(proto, path, json.dumps(body))
    except usp.FramingError:
        pass
    for event in proto.events_received():
        assert isinstance(event, azure_protocol.ProtocolEvent)


def test_the_continuation_names_the_last_service_tag_and_where_the_resent_audio_starts():
    proto = protocol()
    reply(proto, "turn.start", '{"context":{"serviceTag":"tag1"}}')
    proto.send_audio(bytes(6400))
    reply(proto, "translation.phrase", '{"RecognitionStatus":"Success","Text":"a","Offset":0,'
          '"Duration":1000000}')  # fmt: skip
    proto.connection_lost()
    proto.data_to_send()
    proto.connection_made()
    context = usp.parse(proto.data_to_send()[1]).json()
    assert context["continuation"] == {
        "previousServiceTag": "tag1",
        "audio": {"streams": {"1": {"offset": "1000000"}}},
    }


def test_a_continuation_token_and_acknowledged_offset_from_the_service_are_honoured():
    proto = protocol()
    reply(proto, "turn.start", '{"context":{"serviceTag":"tag1"}}')
    proto.send_audio(bytes(9600))
    proto.receive(
        f"Path:translation.hypothesis\r\nX-RequestId:{proto.request_id}\r\n"
        "X-Continuation-Token:opaque\r\nX-Continuation-Audio-Streams-1-Offset:1000000\r\n\r\n"
        '{"Text":"a","Offset":0,"Duration":1500000}'
    )
    assert proto.buffer_start == 3200  # 100 ms acknowledged: no need to send it again
    proto.connection_lost()
    proto.data_to_send()
    proto.connection_made()
    context = usp.parse(proto.data_to_send()[1]).json()
    assert context["continuation"]["token"] == "opaque"
    assert context["continuation"]["audio"]["streams"]["1"]["offset"] == "1000000"


def test_messages_left_unsent_by_a_lost_connection_are_not_sent_on_the_next():
    proto = protocol()
    proto.send_audio(bytes(3200))  # queued, then the connection drops before it is written
    proto.connection_lost()
    proto.connection_made()
    paths = [usp.parse(m).path for m in proto.data_to_send()]
    assert paths == ["speech.config", "speech.context", "audio", "audio"]  # header, re-sent chunk
