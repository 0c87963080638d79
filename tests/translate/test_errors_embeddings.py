"""Upstream errors re-shaped for the caller, mid-stream error events, and embeddings both ways."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from gateway import translate
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from tests.translate.sdk_shapes import check_error

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI


@pytest.mark.parametrize(("door", "status", "expected"), [
    (OPENAI, 429, {"error": {"message": "slow down", "type": "rate_limit_error", "param": None,
                             "code": "rate_limit_exceeded"}}),
    (ANTHROPIC, 429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
    (GEMINI, 429, {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}),
])
def test_an_upstream_error_comes_back_in_the_callers_shape(door: Protocol, status: int,
                                                           expected: dict[str, object]) -> None:
    channel = GEMINI if door is not GEMINI else OPENAI
    body = ({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
            if channel is GEMINI else {"error": {"message": "slow down", "type": "rate_limit_error"}})
    got_status, got = translate.error_response(door, channel, status, body)
    assert (got_status, got) == (status, expected)
    check_error(door, got)


def test_error_bodies_that_are_not_json_objects_get_a_generic_message() -> None:
    status, body = translate.error_response(ANTHROPIC, OPENAI, 502, {"detail": ""})
    assert status == 502 and body["error"]["message"] == "upstream returned HTTP 502"


@pytest.mark.parametrize("door", list(Protocol))
def test_stream_error_event_per_protocol(door: Protocol) -> None:
    [event] = translate.stream_error_event(door, 529, "Overloaded")
    payload = json.loads(event.data)
    check_error(door, payload)
    if door is ANTHROPIC:
        assert event.event == "error" and payload["error"]["type"] == "overloaded_error"
    else:  # the OpenAI SDK only raises on unnamed events carrying "error"; 529 is Anthropic's own
        assert event.event is None
        assert (payload["error"].get("code") == 503) if door is GEMINI else payload["error"]["type"] == "server_error"


# ---- embeddings ----------------------------------------------------------------------------------

def test_openai_embeddings_go_to_gemini_as_a_batch() -> None:
    out = translate.embeddings_request(OPENAI, GEMINI, {"model": "text-embedding-3-small", "input": "hello",
                                                        "dimensions": 8, "user": "u"},
                                       upstream_model="gemini-embedding-001")
    assert out.body == {"requests": [{"model": "models/gemini-embedding-001",
                                      "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8}]}
    assert out.dropped == ["user"]
    assert translate.gemini_embed_method(out.body) == "batchEmbedContents"


def test_token_arrays_cannot_go_to_gemini() -> None:
    with pytest.raises(GatewayError):
        translate.embeddings_request(OPENAI, GEMINI, {"model": "e", "input": [[1, 2, 3]]}, upstream_model="g")


def test_gemini_vectors_come_back_as_openai_floats_or_base64() -> None:
    reply = {"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 2.0]}]}
    floats = translate.embeddings_response(OPENAI, GEMINI, reply, model="e",
                                           caller_request={"input": ["a", "b"]}).body
    assert floats == {"object": "list", "model": "e", "usage": {"prompt_tokens": 0, "total_tokens": 0},
                      "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                               {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]}]}
    packed = translate.embeddings_response(OPENAI, GEMINI, reply, model="e",
                                           caller_request={"input": ["a", "b"], "encoding_format": "base64"})
    first = packed.body["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(first)) == (0.5, -1.0)


def test_gemini_callers_embed_through_openai() -> None:
    single = {"content": {"parts": [{"text": "hi"}]}, "taskType": "RETRIEVAL_QUERY"}
    out = translate.embeddings_request(GEMINI, OPENAI, single, upstream_model="text-embedding-3-small")
    assert out.body == {"model": "text-embedding-3-small", "input": "hi", "encoding_format": "float"}
    assert out.dropped == ["taskType"]
    batch = {"requests": [{"model": "models/x", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4}
                          for t in ("a", "b")]}
    assert translate.embeddings_request(GEMINI, OPENAI, batch, upstream_model="e").body == {
        "model": "e", "input": ["a", "b"], "encoding_format": "float", "dimensions": 4}
    reply = {"object": "list", "model": "e", "usage": {"prompt_tokens": 2, "total_tokens": 2},
             "data": [{"object": "embedding", "index": 1, "embedding": [2.0]},
                      {"object": "embedding", "index": 0, "embedding": [1.0]}]}
    assert translate.embeddings_response(GEMINI, OPENAI, reply, model="e", caller_request=batch).body == {
        "embeddings": [{"values": [1.0]}, {"values": [2.0]}]}
    one = dict(reply, data=[reply["data"][1]])
    assert translate.embeddings_response(GEMINI, OPENAI, one, model="e", caller_request=single).body == {
        "embedding": {"values": [1.0]}}


def test_embeddings_need_an_openai_and_a_gemini_side() -> None:
    with pytest.raises(GatewayError):
        translate.embeddings_request(ANTHROPIC, OPENAI, {"input": "x"}, upstream_model="e")
