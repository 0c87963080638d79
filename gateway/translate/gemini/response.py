"""Gemini GenerateContentResponse bodies to and from the neutral model."""

from __future__ import annotations

from gateway.protocols import Protocol, Usage
from gateway.protocols.usage import gemini_usage
from gateway.translate import ids, stops, usage_out
from gateway.translate.gemini.parts import read_function_call, read_plain_part, write_media
from gateway.translate.neutral import (
    ChatResponse,
    Choice,
    Drops,
    Json,
    Media,
    Part,
    Text,
    Thinking,
    ToolCall,
)
from gateway.translate.wire import arguments_object

_CANDIDATE_EXTRAS = ("citationMetadata", "groundingMetadata", "logprobsResult", "urlContextMetadata")


def read_response(body: Json, drops: Drops) -> ChatResponse:
    response_id = str(body.get("responseId", ""))
    choices: list[Choice] = []
    for position, candidate in enumerate(body.get("candidates") or []):
        index = int(candidate.get("index", position))
        parts: list[Part] = []
        calls = 0
        for part in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("functionCall"), dict):
                parts.append(read_function_call(part, ids.synthetic(response_id, calls, index)))
                calls += 1
            elif isinstance(part, dict):
                read_plain_part(part, parts, drops)
        for key in _CANDIDATE_EXTRAS:
            if candidate.get(key):
                drops.add(f"candidates.{key}")
        choices.append(Choice(parts, stops.from_gemini(candidate.get("finishReason"), calls > 0),
                              index=index))
    feedback = body.get("promptFeedback") or {}
    if not choices and feedback.get("blockReason"):
        choices.append(Choice([], "content_filter"))
    usage = body.get("usageMetadata")
    return ChatResponse(id=response_id, choices=choices,
                        usage=gemini_usage(usage) if isinstance(usage, dict) else None)


def write_response(resp: ChatResponse, drops: Drops, *, model: str) -> Json:
    candidates = []
    for choice in resp.choices:
        parts = [p for p in (write_response_part(part, drops) for part in choice.parts) if p is not None]
        candidates.append({"content": {"parts": parts or [{"text": ""}], "role": "model"},
                           "finishReason": stops.GEMINI_OUT[choice.stop] if choice.stop else "STOP",
                           "index": choice.index})
    return {"candidates": candidates, "usageMetadata": usage_out.gemini(resp.usage or Usage()),
            "modelVersion": model, "responseId": resp.id}


def write_response_part(part: Part, drops: Drops) -> Json | None:
    if isinstance(part, Thinking):
        return {"text": part.text, "thought": True} if part.text else None
    if isinstance(part, Text):
        return {"text": part.text}
    if isinstance(part, ToolCall):
        return function_call_part(part.id, part.name, part.arguments, drops)
    if isinstance(part, Media):
        return write_media(part, Protocol.GEMINI, drops)
    return None


def function_call_part(call_id: str, name: str, arguments: str, drops: Drops) -> Json:
    args = arguments_object(arguments)
    if args is None:
        drops.add("tool_calls.function.arguments")
    return {"functionCall": {"id": call_id, "name": name, "args": args or {}}}

