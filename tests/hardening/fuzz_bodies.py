"""Hypothesis strategies for request bodies of the three protocols: shaped like the real thing, with
junk of any JSON type wherever a field can be, so that checks and adapters are driven deep."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from gateway.protocols import Protocol

# Field names of all three protocols: random objects use them so that junk lands where code looks.
NAMES = [
    "model", "messages", "role", "content", "type", "text", "image_url", "url", "detail", "tool_calls",
    "function", "name", "arguments", "tools", "tool_choice", "parameters", "max_tokens", "n", "stream",
    "stream_options", "include_usage", "system", "contents", "parts", "inlineData", "inline_data",
    "mimeType", "data", "functionCall", "functionResponse", "args", "response", "generationConfig",
    "maxOutputTokens", "candidateCount", "thinkingConfig", "thinkingBudget", "includeThoughts",
    "temperature", "top_p", "stop", "response_format", "json_schema", "schema", "tool_use", "tool_result",
    "tool_use_id", "input", "source", "media_type", "thinking", "budget_tokens", "reasoning_effort",
    "systemInstruction", "toolConfig", "functionDeclarations", "requests", "taskType", "encoding_format",
    "dimensions", "cache_control", "id", "signature", "fileData", "fileUri", "responseSchema",
    "responseMimeType", "stopSequences", "topP", "topK", "seed", "metadata", "user", "prompt", "refusal",
    "tool_call_id", "is_error", "input_schema", "description", "properties", "items", "required", "enum",
    "anyOf", "thought", "thoughtSignature", "max_completion_tokens", "modalities", "audio",
    "parallel_tool_calls", "stop_sequences", "top_k", "generateContentRequest", "outputDimensionality",
]
KEYS = st.one_of(st.sampled_from(NAMES), st.text(max_size=8))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**66), 2**66),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["", "user", "assistant", "model", "text", "function", "auto", "none",
                                     "data:image/png;base64,iVBORw0KGgo=", "https://x.test/a.png", "{}",
                                     "{\"a\": 1}", "[", "image/png", "object", "string"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)


@dataclass(frozen=True)
class Shapes:
    """Builders whose values are junk (any JSON) about one time in `junk`; 0: never junk."""

    junk: int

    def maybe(self, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """The right kind of value, or (unless `junk` is 0) junk of any JSON type."""
        return st.one_of(*[strategy] * (self.junk - 1), JSON) if self.junk else strategy

    def obj(self, required: dict[str, st.SearchStrategy[Any]],
            optional: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[Any]:
        """An object with these fields (each possibly junk) plus a few random ones; sometimes junk itself."""
        shaped = st.fixed_dictionaries({k: self.maybe(v) for k, v in required.items()},
                                       optional={k: self.maybe(v) for k, v in (optional or {}).items()})
        if not self.junk:
            return shaped
        extra = st.dictionaries(KEYS, JSON, max_size=2)
        return self.maybe(st.one_of(st.builds(lambda a, b: {**b, **a}, shaped, extra), shaped, shaped))


TEXT = st.text(max_size=30)
COUNT = st.integers(1, 5000)  # junk brings the out-of-range ones
SCHEMA = st.recursive(st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "number", "boolean",
                                                                      "null", "junk"])},
                                            optional={"description": TEXT, "enum": st.lists(SCALARS, max_size=3)}),
                      lambda inner: st.fixed_dictionaries(
                          {"type": st.sampled_from(["object", "array"])},
                          optional={"properties": st.dictionaries(KEYS, inner, max_size=3), "items": inner,
                                    "required": st.lists(KEYS, max_size=2), "anyOf": st.lists(inner, max_size=2)}),
                      max_leaves=8)


@functools.cache
def shapes(junk: int) -> dict[str, st.SearchStrategy[Any]]:
    """Every body strategy, built with junk one time in `junk`."""
    obj = Shapes(junk).obj
    # ---- OpenAI chat
    oa_part = obj({"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "junk"])},
                  {"text": TEXT, "image_url": obj({"url": SCALARS}, {"detail": TEXT}), "refusal": TEXT,
                   "input_audio": obj({"data": TEXT, "format": TEXT}), "file": OBJECTS})
    oa_call = obj({"id": TEXT, "type": st.just("function"),
                   "function": obj({"name": TEXT, "arguments": st.one_of(TEXT, st.just('{"a": [1, {"b": null}]}'))})})
    oa_message = obj({"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"]),
                      "content": st.one_of(TEXT, st.none(), st.lists(oa_part, max_size=3))},
                     {"tool_calls": st.lists(oa_call, max_size=2), "tool_call_id": TEXT, "name": TEXT,
                      "refusal": TEXT, "reasoning_content": TEXT})
    oa_tool = obj({"type": st.just("function"),
                   "function": obj({"name": TEXT}, {"description": TEXT, "parameters": SCHEMA, "strict": st.booleans()})})
    openai_chat = obj(
        {"model": st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"]),
         "messages": st.lists(oa_message, min_size=1, max_size=4)},
        {"tools": st.lists(oa_tool, max_size=2), "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required"]),
                                                                         OBJECTS),
         "max_tokens": COUNT, "max_completion_tokens": COUNT, "n": st.integers(-1, 3), "stream": st.booleans(),
         "stream_options": obj({}, {"include_usage": st.booleans()}), "temperature": st.floats(-1, 3),
         "top_p": st.floats(0, 1), "stop": st.one_of(TEXT, st.lists(TEXT, max_size=5)),
         "response_format": obj({"type": st.sampled_from(["text", "json_object", "json_schema"])},
                                {"json_schema": obj({"name": TEXT, "schema": SCHEMA})}),
         "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high", "x"]),
         "parallel_tool_calls": st.booleans(), "seed": st.integers(), "user": TEXT})

    # ---- Anthropic messages
    an_source = obj({"type": st.sampled_from(["base64", "url", "text", "x"])},
                    {"media_type": st.sampled_from(["image/png", "image/jpeg", "application/pdf", "x"]),
                     "data": TEXT, "url": TEXT})
    an_block = st.deferred(lambda: obj(
        {"type": st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking",
                                  "redacted_thinking", "server_tool_use", "x"])},
        {"text": TEXT, "source": an_source, "id": TEXT, "name": TEXT, "input": JSON, "tool_use_id": TEXT,
         "content": st.one_of(TEXT, st.lists(an_block, max_size=2)), "is_error": st.booleans(), "thinking": TEXT,
         "signature": TEXT, "data": TEXT, "cache_control": OBJECTS}))
    an_message = obj({"role": st.sampled_from(["user", "assistant", "system", "x"]),
                      "content": st.one_of(TEXT, st.lists(an_block, max_size=3))})
    anthropic_chat = obj(
        {"model": st.sampled_from(["claude-sonnet-4-6", "gpt-4o-mini", "gemini-2.5-flash"]), "max_tokens": COUNT,
         "messages": st.lists(an_message, min_size=1, max_size=4)},
        {"system": st.one_of(TEXT, st.lists(an_block, max_size=2)),
         "tools": st.lists(obj({"name": TEXT}, {"description": TEXT, "input_schema": SCHEMA, "type": TEXT}), max_size=2),
         "tool_choice": obj({"type": st.sampled_from(["auto", "any", "tool", "none"])},
                            {"name": TEXT, "disable_parallel_tool_use": st.booleans()}),
         "thinking": obj({"type": st.sampled_from(["enabled", "disabled", "adaptive"])}, {"budget_tokens": COUNT}),
         "stream": st.booleans(), "stop_sequences": st.lists(TEXT, max_size=5), "temperature": st.floats(-1, 2),
         "top_k": COUNT, "top_p": st.floats(0, 1), "metadata": OBJECTS})

    # ---- Gemini generateContent
    ge_part = obj({}, {"text": TEXT, "inlineData": obj({"mimeType": TEXT, "data": TEXT}),
                       "fileData": obj({"fileUri": TEXT}, {"mimeType": TEXT}),
                       "functionCall": obj({"name": TEXT}, {"args": JSON, "id": TEXT}),
                       "functionResponse": obj({"name": TEXT, "response": JSON}, {"id": TEXT}),
                       "thought": st.booleans(), "thoughtSignature": TEXT,
                       "executableCode": obj({"code": TEXT, "language": TEXT}), "inline_data": OBJECTS})
    ge_content = obj({"parts": st.lists(ge_part, max_size=3)},
                     {"role": st.sampled_from(["user", "model", "function", "system", "x"])})
    gemini_chat = obj(
        {"contents": st.lists(ge_content, min_size=1, max_size=4)},
        {"systemInstruction": ge_content,
         "tools": st.lists(obj({}, {"functionDeclarations": st.lists(obj({"name": TEXT},
                                                                         {"description": TEXT, "parameters": SCHEMA}),
                                                                     max_size=2),
                                    "googleSearch": OBJECTS, "codeExecution": OBJECTS}), max_size=2),
         "toolConfig": obj({"functionCallingConfig": obj({"mode": st.sampled_from(["AUTO", "ANY", "NONE", "x"])},
                                                         {"allowedFunctionNames": st.lists(TEXT, max_size=2)})}),
         "generationConfig": obj({}, {"maxOutputTokens": COUNT, "candidateCount": st.integers(-1, 3),
                                      "temperature": st.floats(-1, 3), "topP": st.floats(0, 1), "topK": COUNT,
                                      "stopSequences": st.lists(TEXT, max_size=6),
                                      "responseMimeType": st.sampled_from(["application/json", "text/plain", "x"]),
                                      "responseSchema": SCHEMA,
                                      "thinkingConfig": obj({}, {"thinkingBudget": st.integers(-2, 30000),
                                                                 "includeThoughts": st.booleans()})}),
         "safetySettings": st.lists(OBJECTS, max_size=2), "cachedContent": TEXT})

    # ---- embeddings and counting
    openai_embeddings = obj({"model": st.sampled_from(["text-embedding-3-small", "text-embedding-004"]),
                             "input": st.one_of(TEXT, st.lists(TEXT, max_size=3), st.lists(st.integers(), max_size=3))},
                            {"encoding_format": st.sampled_from(["float", "base64", "x"]), "dimensions": COUNT})
    gemini_embed = obj({}, {"content": ge_content, "taskType": TEXT, "outputDimensionality": COUNT,
                            "requests": st.lists(obj({"content": ge_content}, {"model": TEXT, "taskType": TEXT}),
                                                 max_size=3)})
    gemini_count = obj({}, {"contents": st.lists(ge_content, max_size=2),
                            "generateContentRequest": obj({"contents": st.lists(ge_content, max_size=2)},
                                                          {"model": TEXT})})

    return {"openai": openai_chat, "anthropic": anthropic_chat, "gemini": gemini_chat,
            "openai_embeddings": openai_embeddings, "gemini_embed": gemini_embed, "gemini_count": gemini_count}


def bodies(door: Protocol) -> st.SearchStrategy[Any]:
    """Chat bodies of `door`: shaped with junk anywhere, or plainly random objects."""
    return st.one_of(shapes(3)[door.value], shapes(3)[door.value], OBJECTS)


@st.composite
def near_valid(draw: st.DrawFn, door: Protocol) -> Any:
    """A valid-shaped chat body of `door` with at most two values replaced by junk, so that many
    pass the door's checks and travel through the pipeline to an upstream."""
    body = draw(shapes(0)[door.value])
    for _ in range(draw(st.integers(0, 2))):
        body = _replace_somewhere(draw, body)
    return body


def _replace_somewhere(draw: st.DrawFn, value: Any) -> Any:
    """`value` with one nested value (or itself) swapped for junk, found by a random walk."""
    inner = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) \
        if isinstance(value, list) else []
    if not inner or draw(st.integers(0, 3)) == 0:
        return draw(JSON)
    key, child = inner[draw(st.integers(0, len(inner) - 1))]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = _replace_somewhere(draw, child)
    return copy


OPENAI_EMBEDDINGS = shapes(3)["openai_embeddings"]
GEMINI_EMBED = shapes(3)["gemini_embed"]
GEMINI_COUNT = shapes(3)["gemini_count"]


# ---- rich valid bodies: every feature the adapters read, for exhaustive one-place mutations
_SCHEMA_JSON = {"type": "object", "properties": {
    "city": {"type": "string", "description": "where", "enum": ["a", "b"]},
    "days": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "unit": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "ref": {"$ref": "#/$defs/place"}, "both": {"allOf": [{"type": "number"}]}},
    "required": ["city"], "$defs": {"place": {"type": "string", "format": "date-time"}}}
_SCHEMA_GEMINI = {"type": "OBJECT", "properties": {"city": {"type": "STRING", "enum": ["a", "b"]},
                                                   "days": {"type": "ARRAY", "items": {"type": "INTEGER"}}},
                  "required": ["city"], "nullable": False}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
RICH: dict[Protocol, dict[str, Any]] = {
    Protocol.OPENAI: {
        "model": "gpt-4o-mini", "max_tokens": 100, "max_completion_tokens": 90, "n": 1, "stream": False,
        "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "seed": 7, "reasoning_effort": "low",
        "parallel_tool_calls": True, "user": "u1", "metadata": {"k": "v"}, "logit_bias": {"50256": -100},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "really"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG}"}}]},
            {"role": "assistant", "content": None, "reasoning_content": "hmm", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"a\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "sunny"}]},
            {"role": "assistant", "content": "ok", "refusal": None}],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "d", "strict": True,
                                                    "parameters": _SCHEMA_JSON}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": True,
                                                                   "schema": _SCHEMA_JSON}}},
    Protocol.ANTHROPIC: {
        "model": "claude-sonnet-4-6", "max_tokens": 2000, "stream": False, "temperature": 0.5, "top_k": 5,
        "top_p": 0.9, "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PNG}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "a"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
                 "content": [{"type": "text", "text": "sunny"},
                             {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
                {"type": "text", "text": "and?"}]}],
        "tools": [{"name": "weather", "description": "d", "input_schema": _SCHEMA_JSON,
                   "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        "output_config": {"format": {"type": "json_schema", "schema": _SCHEMA_JSON}}},
    Protocol.GEMINI: {
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": PNG}},
                                       {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/a.pdf"}}]},
            {"role": "model", "parts": [{"text": "hmm", "thought": True, "thoughtSignature": "c2ln"},
                                        {"functionCall": {"name": "weather", "args": {"city": "a"}, "id": "c1"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "id": "c1",
                                                             "response": {"result": "sunny"}}}]}],
        "tools": [{"functionDeclarations": [{"name": "weather", "description": "d", "parameters": _SCHEMA_GEMINI},
                                            {"name": "raw", "parametersJsonSchema": _SCHEMA_JSON}]},
                  {"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "topK": 5,
                             "candidateCount": 1, "stopSequences": ["END"], "seed": 3,
                             "responseMimeType": "application/json", "responseSchema": _SCHEMA_GEMINI,
                             "thinkingConfig": {"thinkingBudget": 512, "includeThoughts": True}}},
}
JUNK: list[Any] = [None, 7, -1.5, "x", "", True, [], [1, "a"], {}, {"a": [None]}]


def one_place_mutations(body: Any) -> list[Any]:
    """`body` with each nested value in turn replaced by each JUNK value, or removed."""
    out: list[Any] = []

    def walk(node: Any, rebuild: Any) -> None:
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        for key, child in items:
            def put(value: Any, key: Any = key, node: Any = node, rebuild: Any = rebuild, drop: bool = False) -> Any:
                copy: Any = dict(node) if isinstance(node, dict) else list(node)
                if drop:
                    del copy[key]
                else:
                    copy[key] = value
                return rebuild(copy)
            out.extend(put(junk) for junk in JUNK)
            out.append(put(None, drop=True))
            walk(child, put)

    walk(body, lambda whole: whole)
    return out

RICH_EMBEDDINGS: dict[Protocol, list[dict[str, Any]]] = {
    Protocol.OPENAI: [{"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64",
                       "dimensions": 64, "user": "u1"}],
    Protocol.GEMINI: [{"content": {"parts": [{"text": "a"}, {"text": "b"}]}, "taskType": "RETRIEVAL_QUERY",
                       "title": "t", "outputDimensionality": 64},
                      {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]},
                                     "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 64}]}],
}
