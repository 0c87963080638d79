"""Request translation edge cases: bounds, drops, schema subset, reasoning limits, ids and signatures."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import translate
from gateway.protocols import Protocol
from gateway.protocols.errors import GatewayError
from gateway.translate import ids
from gateway.translate.neutral import Drops
from gateway.translate.schema import closed_objects, to_gemini

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
USER = [{"role": "user", "content": "hi"}]


def request(door: Protocol, channel: Protocol, body: dict[str, Any], **kw: Any) -> translate.Translated:
    return translate.chat_request(door, channel, body, upstream_model=kw.get("model", "up"),
                                  stream=kw.get("stream", False), default_max_tokens=kw.get("max", 1000))


@pytest.mark.parametrize(("channel", "field", "value", "carried_as"), [
    (ANTHROPIC, "temperature", 1.5, None),  # Anthropic takes 0..1: not clamped, reported
    (GEMINI, "temperature", 1.5, ("generationConfig", "temperature")),
    (ANTHROPIC, "top_p", 0.9, ("top_p",)),
    (GEMINI, "n", 2, ("generationConfig", "candidateCount")),
    (ANTHROPIC, "n", 2, None),
    (GEMINI, "n", 9, None),  # candidateCount is 1..8
    (ANTHROPIC, "seed", 7, None),
    (GEMINI, "presence_penalty", 0.5, ("generationConfig", "presencePenalty")),
    (ANTHROPIC, "logprobs", True, None),
    (GEMINI, "stop", ["a", "b", "c", "d"], ("generationConfig", "stopSequences")),
    (ANTHROPIC, "stop", "END", ("stop_sequences",)),
])
def test_openai_sampling_fields_are_carried_or_reported(channel: Protocol, field: str, value: Any,
                                                        carried_as: tuple[str, ...] | None) -> None:
    out = request(OPENAI, channel, {"model": "m", "messages": USER, field: value})
    if carried_as is None:
        assert out.dropped == [field]
        return
    node: Any = out.body
    for key in carried_as:
        node = node[key]
    assert node == ([value] if field == "stop" and isinstance(value, str) else value)
    assert out.dropped == []


def test_defaults_that_carry_nothing_are_not_reported() -> None:
    out = request(OPENAI, ANTHROPIC, {"model": "m", "messages": USER, "n": 1, "presence_penalty": 0,
                                      "stop": []})
    assert out.dropped == []


def test_more_stop_sequences_than_openai_takes_are_reported() -> None:
    out = request(GEMINI, OPENAI, {"contents": [{"parts": [{"text": "hi"}]}],
                                   "generationConfig": {"stopSequences": ["1", "2", "3", "4", "5"]}})
    assert "stop" not in out.body and out.dropped == ["generationConfig.stopSequences"]


def test_anthropic_needs_max_tokens_and_gets_the_default() -> None:
    assert request(OPENAI, ANTHROPIC, {"model": "m", "messages": USER}, max=777).body["max_tokens"] == 777
    assert request(GEMINI, ANTHROPIC, {"contents": [{"parts": [{"text": "x"}]}]}, max=55).body["max_tokens"] == 55


def test_unknown_caller_fields_are_reported_not_lost_silently() -> None:
    out = request(OPENAI, GEMINI, {"model": "m", "messages": USER, "store": True, "metadata": {"a": "b"},
                                   "logit_bias": {"1": 2}})
    assert out.dropped == ["store", "metadata", "logit_bias"]


def test_every_system_and_developer_message_goes_to_the_system_prompt() -> None:
    body = {"model": "m", "messages": [{"role": "developer", "content": "A"}, *USER,
                                       {"role": "system", "content": [{"type": "text", "text": "B"}]}]}
    assert request(OPENAI, ANTHROPIC, body).body["system"] == [{"type": "text", "text": "A"},
                                                               {"type": "text", "text": "B"}]
    assert request(OPENAI, GEMINI, body).body["systemInstruction"] == {"parts": [{"text": "A"}, {"text": "B"}]}


def test_consecutive_same_role_turns_are_merged_for_gemini_and_anthropic() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                       {"role": "assistant", "content": "c"}]}
    assert request(OPENAI, GEMINI, body).body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}, {"role": "model", "parts": [{"text": "c"}]}]
    assert request(OPENAI, ANTHROPIC, body).body["messages"][0] == {
        "role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}


def test_missing_messages_is_the_callers_error() -> None:
    with pytest.raises(GatewayError) as caught:
        request(OPENAI, GEMINI, {"model": "m"})
    assert caught.value.kind == "invalid_request"


# ---- JSON Schema for Gemini -----------------------------------------------------------------------

def test_gemini_schema_subset_converts_what_it_can_and_reports_the_rest() -> None:
    drops = Drops()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"when": {"type": ["string", "null"], "format": "date-time"},
                             "site": {"type": "string", "format": "uri"},
                             "kind": {"const": "a"},
                             "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
                             "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]}},
              "$defs": {"tag": {"type": "string", "minLength": 1}},
              "additionalProperties": False}
    assert to_gemini(schema, drops, "p") == {
        "type": "OBJECT",
        "properties": {"when": {"type": "STRING", "nullable": True, "format": "date-time"},
                       "site": {"type": "STRING"},
                       "kind": {"enum": ["a"]},
                       "tags": {"type": "ARRAY", "items": {"type": "STRING", "minLength": 1}},
                       "either": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]}}}
    assert drops.names == ["p.$schema", "p.format", "p.oneOf", "p.additionalProperties"]


def test_recursive_refs_are_cut_and_reported() -> None:
    drops = Drops()
    node = {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}
    out = to_gemini({"$ref": "#/$defs/node", "$defs": {"node": node}}, drops, "p")
    assert out["type"] == "OBJECT" and "p.$ref" in drops.names


def test_a_tool_without_parameters_declares_none_to_gemini() -> None:
    body = {"model": "m", "messages": USER, "tools": [
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]}
    assert request(OPENAI, GEMINI, body).body["tools"] == [{"functionDeclarations": [{"name": "now"}]}]


def test_anthropic_structured_output_schemas_are_closed() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {}}},
              "additionalProperties": True}
    assert closed_objects(schema) == {"type": "object", "additionalProperties": True, "properties": {
        "a": {"type": "object", "properties": {}, "additionalProperties": False}}}


# ---- reasoning -----------------------------------------------------------------------------------

def test_thinking_budget_must_fit_under_the_callers_max_tokens() -> None:
    out = request(OPENAI, ANTHROPIC, {"model": "m", "messages": USER, "reasoning_effort": "high",
                                      "max_completion_tokens": 5000, "temperature": 0.5})
    assert out.body["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    assert out.body["max_tokens"] == 5000 and "temperature" not in out.body
    assert out.dropped == ["reasoning_effort", "temperature"]


def test_thinking_budget_is_added_to_the_default_max_tokens() -> None:
    out = request(OPENAI, ANTHROPIC, {"model": "m", "messages": USER, "reasoning_effort": "low"}, max=4096)
    assert out.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert out.body["max_tokens"] == 4096 + 1024


def test_no_thinking_when_the_last_tool_turn_has_no_signed_thinking_block() -> None:
    body = {"model": "m", "reasoning_effort": "low", "messages": [
        *USER, {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}
    out = request(OPENAI, ANTHROPIC, body)
    assert "thinking" not in out.body and out.dropped == ["reasoning_effort"]


def test_signed_anthropic_thinking_goes_back_to_anthropic_only() -> None:
    history = [*USER, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]
    body = {"model": "m", "max_tokens": 100, "messages": history}
    to_openai = request(ANTHROPIC, OPENAI, body)
    assert to_openai.dropped == ["messages.content.thinking"]
    assert "reasoning_content" not in to_openai.body["messages"][1]


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 8192), ("high", 24576),
                                                ("none", 0)])
def test_effort_to_gemini_budget(effort: str, budget: int) -> None:
    out = request(OPENAI, GEMINI, {"model": "m", "messages": USER, "reasoning_effort": effort})
    config = out.body["generationConfig"]["thinkingConfig"]
    assert config["thinkingBudget"] == budget
    assert config.get("includeThoughts") is (None if budget == 0 else True)


@pytest.mark.parametrize(("thinking", "effort"), [({"thinkingBudget": 1024}, "low"),
                                                  ({"thinkingBudget": 20000}, "high"),
                                                  ({"thinkingLevel": "HIGH"}, "high"),
                                                  ({"thinkingBudget": -1}, None)])
def test_gemini_thinking_to_openai_effort(thinking: dict[str, Any], effort: str | None) -> None:
    out = request(GEMINI, OPENAI, {"contents": [{"parts": [{"text": "x"}]}],
                                   "generationConfig": {"thinkingConfig": thinking}})
    assert out.body.get("reasoning_effort") == effort


def test_turning_thinking_off_cannot_be_said_to_openai_and_is_reported() -> None:
    out = request(ANTHROPIC, OPENAI, {"model": "m", "max_tokens": 10, "messages": USER,
                                      "thinking": {"type": "disabled"}})
    assert "reasoning_effort" not in out.body and out.dropped == ["thinking"]


# ---- tool ids and Gemini thought signatures ------------------------------------------------------

def test_signature_rides_in_the_id_and_survives_any_text() -> None:
    for signature in ("CiQBjz1rX2Zz8G9w/+YXJ0c2lnbmF0dXJl", "not base64 at all ✓"):
        carried = ids.embed("call_1", signature)
        assert carried.replace("-", "").replace("_", "").isalnum()  # Anthropic's tool id alphabet
        assert ids.split(carried) == ("call_1", signature)
    assert ids.split("call_1") == ("call_1", None)


GEMINI_CALLS = {"candidates": [{"content": {"role": "model", "parts": [
    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2lnbmF0dXJl"},
    {"functionCall": {"name": "g", "args": {}}}]}, "finishReason": "STOP", "index": 0}], "responseId": "r1"}


@pytest.mark.parametrize("door", [OPENAI, ANTHROPIC])
def test_gemini_signatures_go_back_to_gemini_and_nowhere_else(door: Protocol) -> None:
    reply = translate.chat_response(door, GEMINI, GEMINI_CALLS, model="g").body
    if door is OPENAI:
        calls = reply["choices"][0]["message"]["tool_calls"]
        body: dict[str, Any] = {"model": "g", "messages": [*USER, {"role": "assistant", "tool_calls": calls}] + [
            {"role": "tool", "tool_call_id": c["id"], "content": "r"} for c in calls]}
    else:
        blocks = reply["content"]
        body = {"model": "g", "max_tokens": 9, "messages": [*USER, {"role": "assistant", "content": blocks}, {
            "role": "user", "content": [{"type": "tool_result", "tool_use_id": b["id"], "content": "r"}
                                        for b in blocks]}]}
    to_gemini = request(door, GEMINI, body).body["contents"]
    assert to_gemini[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
    assert "thoughtSignature" not in to_gemini[1]["parts"][1]
    assert [p["functionResponse"]["id"] for p in to_gemini[2]["parts"]] == ["call_r1_0", "call_r1_1"]
    other = ANTHROPIC if door is OPENAI else OPENAI
    elsewhere = str(request(door, other, body).body)
    assert "__gsig__" not in elsewhere and "call_r1_0" in elsewhere


def test_gemini_responses_without_ids_answer_calls_by_name_then_order() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "q"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {}}},
                                                     {"functionCall": {"name": "b", "args": {}}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "b", "response": {"x": 1}}},
                                                    {"functionResponse": {"name": "a", "response": {"y": 2}}}]}]}
    messages = request(GEMINI, OPENAI, body).body["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [("call_1_1", '{"x":1}'),
                                                                         ("call_1_0", '{"y":2}')]


# ---- media ---------------------------------------------------------------------------------------

def test_non_image_media_where_the_target_cannot_read_it_is_reported() -> None:
    body = {"contents": [{"parts": [{"text": "listen"}, {"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}]}]}
    out = request(GEMINI, ANTHROPIC, body)
    assert out.body["messages"][0]["content"] == "listen" and out.dropped == ["contents.parts.inlineData"]


def test_pdf_travels_as_a_document_or_a_file() -> None:
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    body = {"contents": [{"parts": [{"text": "sum up"}, pdf]}]}
    assert request(GEMINI, ANTHROPIC, body).body["messages"][0]["content"][1] == {
        "type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    assert request(GEMINI, OPENAI, body).body["messages"][0]["content"][1] == {
        "type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}}


def test_gemini_files_api_uris_cannot_be_fetched_by_anthropic() -> None:
    body = {"contents": [{"parts": [{"text": "x"}, {"fileData": {
        "mimeType": "image/png", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}
    out = request(GEMINI, ANTHROPIC, body)
    assert out.dropped == ["contents.parts.fileData.fileUri"]
