"""Gemini bodies spelled the way google-genai sends them (nested snake_case) read like camelCase ones."""

from __future__ import annotations

from typing import Any

from gateway.protocols import Protocol
from gateway.translate import chat_request, embeddings_request
from gateway.translate.gemini.names import camel, camel_request

# What google-genai 3.x puts on the wire for a request with an image, a file URI, tools with JSON Schema
# and Gemini Schema parameters, a thinking config, and a history with a function call and its response.
SDK_BODY: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [
            {"text": "Look"},
            {"inlineData": {"data": "iVBORw0KGgo=", "mime_type": "image/png"}},
            {"fileData": {"file_uri": "https://example.com/cat.jpg", "mime_type": "image/jpeg"}}]},
        {"role": "model", "parts": [{"function_call": {"id": "c1", "name": "lookup",
                                                       "args": {"snake_key": 1, "nested": {"a_b": 2}}},
                                     "thought_signature": "c2ln"}]},
        {"role": "user", "parts": [{"function_response": {"id": "c1", "name": "lookup",
                                                          "response": {"result_value": "x_y"}}}]},
    ],
    "systemInstruction": {"parts": [{"text": "Be brief"}], "role": "user"},
    "tools": [{"functionDeclarations": [
        {"name": "lookup", "parameters_json_schema": {
            "type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]}},
        {"name": "legacy", "parameters": {"type": "OBJECT", "properties": {
            "max_items": {"type": "ARRAY", "items": {"type": "STRING"}, "max_items": "3"}},
            "property_ordering": ["max_items"]}}]}],
    "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["lookup"]}},
    "generationConfig": {"maxOutputTokens": 64, "thinkingConfig": {"thinking_budget": 2048,
                                                                    "include_thoughts": True}},
}


def test_camel_renames_only_snake_case_names() -> None:
    assert [camel(n) for n in ("mime_type", "mimeType", "_responseJsonSchema", "Snake_Case", "a")] == [
        "mimeType", "mimeType", "_responseJsonSchema", "Snake_Case", "a"]


def test_field_names_are_camel_cased_and_the_callers_data_is_not() -> None:
    body = camel_request(SDK_BODY)
    user, model, answer = body["contents"]
    assert user["parts"][1] == {"inlineData": {"data": "iVBORw0KGgo=", "mimeType": "image/png"}}
    assert user["parts"][2] == {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}}
    assert model["parts"][0] == {"functionCall": {"id": "c1", "name": "lookup",
                                                  "args": {"snake_key": 1, "nested": {"a_b": 2}}},
                                 "thoughtSignature": "c2ln"}
    assert answer["parts"][0] == {"functionResponse": {"id": "c1", "name": "lookup",
                                                       "response": {"result_value": "x_y"}}}
    lookup, legacy = body["tools"][0]["functionDeclarations"]
    assert lookup["parametersJsonSchema"]["properties"] == {"user_id": {"type": "string"}}
    assert legacy["parameters"] == {"type": "OBJECT", "properties": {
        "max_items": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "3"}},
        "propertyOrdering": ["max_items"]}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048, "includeThoughts": True}
    assert SDK_BODY["contents"][1]["parts"][0]["thought_signature"] == "c2ln"  # the input is not changed


def test_the_camel_case_spelling_wins_when_a_body_has_both() -> None:
    assert camel_request({"generationConfig": {"topK": 3, "top_k": 9}}) == {"generationConfig": {"topK": 3}}


def test_an_sdk_body_translates_to_anthropic_with_nothing_lost() -> None:
    out = chat_request(Protocol.GEMINI, Protocol.ANTHROPIC, SDK_BODY, upstream_model="claude-sonnet-4-6",
                       stream=False, default_max_tokens=4096)
    body = out.body
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "c1", "name": "lookup",
                                               "input": {"snake_key": 1, "nested": {"a_b": 2}}}]
    assert body["messages"][2]["content"][0]["tool_use_id"] == "c1"
    assert body["tools"][0]["input_schema"]["properties"] == {"user_id": {"type": "string"}}
    assert body["tool_choice"] == {"type": "tool", "name": "lookup"}
    assert body["system"] == "Be brief"


def test_an_sdk_embedding_body_keeps_its_dimensionality() -> None:
    body = {"requests": [{"model": "models/x", "content": {"parts": [{"text": "a"}]}, "output_dimensionality": 8,
                          "task_type": "RETRIEVAL_QUERY"}]}
    out = embeddings_request(Protocol.GEMINI, Protocol.OPENAI, body, upstream_model="text-embedding-3-small")
    assert (out.body["input"], out.body["dimensions"]) == (["a"], 8)
    assert out.dropped == ["taskType"]


def test_integral_floats_the_sdk_sends_are_written_as_integers() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"topK": 20.0, "seed": 4.0, "maxOutputTokens": 100}}
    anthropic = chat_request(Protocol.GEMINI, Protocol.ANTHROPIC, body, upstream_model="claude-sonnet-4-6",
                             stream=False, default_max_tokens=4096).body
    assert (anthropic["top_k"], type(anthropic["top_k"])) == (20, int)
    openai = chat_request(Protocol.GEMINI, Protocol.OPENAI, body, upstream_model="gpt-4o-mini", stream=False,
                          default_max_tokens=4096).body
    assert (openai["seed"], type(openai["seed"])) == (4, int)
    fractional = {**body, "generationConfig": {"topK": 2.5}}
    out = chat_request(Protocol.GEMINI, Protocol.ANTHROPIC, fractional, upstream_model="claude-sonnet-4-6",
                       stream=False, default_max_tokens=4096)
    assert "top_k" not in out.body and out.dropped == ["generationConfig.topK"]
