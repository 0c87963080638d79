"""Anthropic Message bodies to and from the neutral model."""

from __future__ import annotations

from gateway.protocols import Protocol, Usage
from gateway.translate import ids, stops, usage_out
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
from gateway.translate.wire import arguments_object, dumps

_ID_PREFIX = "msg_"


def read_response(body: Json, drops: Drops) -> ChatResponse:
    parts: list[Part] = []
    for block in body.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(Text(str(block.get("text", ""))))
            if block.get("citations"):
                drops.add("content.citations")
        elif kind == "thinking":
            parts.append(Thinking(str(block.get("thinking", "")), block.get("signature"),
                                  Protocol.ANTHROPIC))
        elif kind == "redacted_thinking":
            parts.append(Thinking("", block.get("data"), Protocol.ANTHROPIC, redacted=True))
        elif kind == "tool_use":
            parts.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")),
                                  dumps(block.get("input") or {})))
        else:
            drops.add(f"content.{kind}")
    reason = body.get("stop_reason")
    choice = Choice(parts, stops.ANTHROPIC_IN.get(reason, "other") if isinstance(reason, str) else None,
                    stop_sequence=body.get("stop_sequence"))
    usage = body.get("usage")
    return ChatResponse(id=str(body.get("id", "")), choices=[choice],
                        usage=usage_out.read_anthropic(usage) if isinstance(usage, dict) else None)


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith(_ID_PREFIX) else _ID_PREFIX + upstream_id


def write_response(resp: ChatResponse, drops: Drops, *, model: str) -> Json:
    choice = resp.choices[0] if resp.choices else Choice([])
    if len(resp.choices) > 1:
        drops.add("choices")
    content: list[Json] = []
    for part in choice.parts:
        if isinstance(part, Thinking):
            if part.redacted and part.origin is Protocol.ANTHROPIC:
                content.append({"type": "redacted_thinking", "data": part.signature or ""})
            elif part.text:
                signature = part.signature if part.origin is Protocol.ANTHROPIC else None
                content.append({"type": "thinking", "thinking": part.text, "signature": signature or ""})
        elif isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCall):
            args = arguments_object(part.arguments)
            if args is None:
                drops.add("tool_calls.function.arguments")
            content.append({"type": "tool_use", "id": ids.embed(part.id, part.signature), "name": part.name,
                            "input": args or {}})
        elif isinstance(part, Media):
            drops.add("content.media")
    reason = stops.ANTHROPIC_OUT[choice.stop] if choice.stop else "end_turn"
    return {"id": message_id(resp.id), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": reason, "stop_sequence": choice.stop_sequence,
            "usage": usage_out.anthropic(resp.usage or Usage())}
