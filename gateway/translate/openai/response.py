"""OpenAI chat.completion bodies to and from the neutral model."""

from __future__ import annotations

from typing import Any

from gateway.protocols.usage import openai_usage
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

_ID_PREFIX = "chatcmpl-"


def read_response(body: Json, drops: Drops) -> ChatResponse:
    choices: list[Choice] = []
    for raw in body.get("choices") or []:
        message = raw.get("message") or {}
        parts: list[Part] = []
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(Thinking(reasoning))
        if isinstance(message.get("content"), str) and message["content"]:
            parts.append(Text(message["content"]))
        if isinstance(message.get("refusal"), str) and message["refusal"]:
            parts.append(Text(message["refusal"]))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(ToolCall(str(call.get("id", "")), str(function.get("name", "")),
                                  str(function.get("arguments") or "")))
        for key in ("annotations", "audio"):
            if message.get(key):
                drops.add(f"choices.message.{key}")
        if raw.get("logprobs"):
            drops.add("choices.logprobs")
        reason = raw.get("finish_reason")
        stop = stops.OPENAI_IN.get(reason, "other") if reason else None
        if stop == "end_turn" and any(isinstance(p, ToolCall) for p in parts):
            stop = "tool_use"  # compatible servers that call tools but say "stop"
        choices.append(Choice(parts, stop, index=int(raw.get("index", len(choices)))))
    usage = body.get("usage")
    created = body.get("created")
    return ChatResponse(id=str(body.get("id", "")), choices=choices,
                        usage=openai_usage(usage) if isinstance(usage, dict) else None,
                        created=created if isinstance(created, int) else None)


def response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith(_ID_PREFIX) else _ID_PREFIX + upstream_id


def write_response(resp: ChatResponse, drops: Drops, *, model: str, created: int) -> Json:
    body: Json = {"id": response_id(resp.id), "object": "chat.completion", "created": created,
                  "model": model, "choices": [_write_choice(c, drops) for c in resp.choices]}
    if resp.usage is not None:
        body["usage"] = usage_out.openai(resp.usage)
    return body


def _write_choice(choice: Choice, drops: Drops) -> Json:
    texts = [p.text for p in choice.parts if isinstance(p, Text)]
    thoughts = [p.text for p in choice.parts if isinstance(p, Thinking) and p.text]
    calls = [p for p in choice.parts if isinstance(p, ToolCall)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None,
                               "refusal": None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = [{"id": ids.embed(c.id, c.signature), "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                                 for c in calls]
    if any(isinstance(p, Media) for p in choice.parts):
        drops.add("content.media")
    reason = stops.OPENAI_OUT[choice.stop] if choice.stop else "stop"
    return {"index": choice.index, "message": message, "logprobs": None, "finish_reason": reason}
