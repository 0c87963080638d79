"""The fake OpenAI Responses API (`POST /v1/responses`): the response object and its named SSE events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.base import Frame, behaviour_of
from tests.fakes.script import Behaviour, Tokens, estimate_tokens, split_text

if TYPE_CHECKING:
    from tests.fakes.openai import OpenAIFake

SSE_TYPE = "text/event-stream; charset=utf-8"


def _usage(behaviour: Behaviour, tokens: Tokens) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": tokens.input,
        "input_tokens_details": {"cached_tokens": tokens.cached, "cache_write_tokens": tokens.cache_write},
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.input + tokens.output,
    }
    usage.update(behaviour.usage_override or {})
    return usage


def _envelope(fake: OpenAIFake, body: dict[str, Any], response_id: str, created: int) -> dict[str, Any]:
    """The response object's fixed fields, echoing the request's settings like the real API."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": None,
        "metadata": body.get("metadata", {}),
    }


async def respond(fake: OpenAIFake, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    behaviour = behaviour_of(request)
    function_tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    ]
    calls = behaviour.tool_calls if function_tools else []
    text = "" if calls else behaviour.full_text()
    reasoning = estimate_tokens(behaviour.thinking) if behaviour.thinking else 0
    arguments = "".join(call.arguments_json() for call in calls)
    tokens = behaviour.tokens or Tokens(
        input=estimate_tokens(body["input"]),
        reasoning=reasoning,
        output=estimate_tokens(text + arguments) + reasoning,
    )
    response_id = "resp_" + fake.random_id(48, "0123456789abcdef")
    envelope = _envelope(fake, body, response_id, fake.now())
    message_id = "msg_" + fake.random_id(48, "0123456789abcdef")
    items: list[dict[str, Any]] = []
    if behaviour.thinking:
        items.append(
            {"id": "rs_" + fake.random_id(48, "0123456789abcdef"), "type": "reasoning", "summary": []}
        )
    if text:
        items.append(
            {
                "id": message_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
            }
        )
    for call in calls:
        items.append(
            {
                "id": "fc_" + fake.random_id(48, "0123456789abcdef"),
                "type": "function_call",
                "status": "completed",
                "arguments": call.arguments_json(),
                "call_id": call.id or "call_" + fake.random_id(24),
                "name": call.name,
            }
        )
    incomplete = behaviour.finish_reason == "max_output_tokens"
    final = {
        **envelope,
        "status": "incomplete" if incomplete else "completed",
        "output": items,
        "usage": _usage(behaviour, tokens),
    }
    if incomplete:
        final["incomplete_details"] = {"reason": "max_output_tokens"}
    if not body.get("stream"):
        return await fake.send_json(request, final, indent=2)
    frames = _events(envelope, final, behaviour)
    sequence = len(frames)
    error = Frame(
        json.dumps(
            {
                "type": "error",
                "code": "server_error",
                "param": None,
                "sequence_number": sequence,
                "message": "The server had an error while processing your request.",
            }
        ),
        head="event: error\ndata: ",
    )
    return await fake.send_stream(request, frames, content_type=SSE_TYPE, error_frame=error)


def _events(envelope: dict[str, Any], final: dict[str, Any], behaviour: Behaviour) -> list[Frame]:
    """response.created … per-item added/delta/done … response.completed, numbered in order."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": envelope}),
        ("response.in_progress", {"response": envelope}),
    ]
    for output_index, item in enumerate(final["output"]):
        item_id = item["id"]
        if item["type"] == "message":
            events.append(
                (
                    "response.output_item.added",
                    {"output_index": output_index, "item": {**item, "status": "in_progress", "content": []}},
                )
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            where = {"item_id": item_id, "output_index": output_index, "content_index": 0}
            events.append(("response.content_part.added", {**where, "part": part}))
            for piece in behaviour.text_pieces():
                events.append(("response.output_text.delta", {**where, "delta": piece, "logprobs": []}))
            text = item["content"][0]["text"]
            events.append(("response.output_text.done", {**where, "text": text, "logprobs": []}))
            events.append(("response.content_part.done", {**where, "part": {**part, "text": text}}))
        elif item["type"] == "function_call":
            events.append(
                (
                    "response.output_item.added",
                    {
                        "output_index": output_index,
                        "item": {**item, "status": "in_progress", "arguments": ""},
                    },
                )
            )
            where = {"item_id": item_id, "output_index": output_index}
            for piece in split_text(item["arguments"], behaviour.chunks):
                events.append(("response.function_call_arguments.delta", {**where, "delta": piece}))
            events.append(
                ("response.function_call_arguments.done", {**where, "arguments": item["arguments"]})
            )
        else:
            events.append(("response.output_item.added", {"output_index": output_index, "item": item}))
        events.append(("response.output_item.done", {"output_index": output_index, "item": item}))
    terminal = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    events.append((terminal, {"response": final}))
    return [
        Frame(
            json.dumps({"type": name, **data, "sequence_number": number}, separators=(",", ":")),
            head=f"event: {name}\ndata: ",
        )
        for number, (name, data) in enumerate(events)
    ]
