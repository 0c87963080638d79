"""The fake OpenAI legacy completions endpoint (`POST /v1/completions`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.base import Frame, behaviour_of
from tests.fakes.openai_checks import model_problem, problem
from tests.fakes.script import Tokens, estimate_tokens

if TYPE_CHECKING:
    from tests.fakes.openai import OpenAIFake

SSE_TYPE = "text/event-stream; charset=utf-8"


async def complete(fake: OpenAIFake, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """`POST /v1/completions`: a `text_completion`, or its chunks and `[DONE]`."""
    found = model_problem(body, fake.models, "completion")
    if found is None and "prompt" not in body:
        found = problem(400, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    if (invalid := fake._as_error(found)) is not None:
        return invalid
    if (scripted := fake.scripted_error(request)) is not None:
        return scripted
    behaviour = behaviour_of(request)
    text = behaviour.full_text()
    tokens = behaviour.tokens or Tokens(input=estimate_tokens(body["prompt"]), output=estimate_tokens(text))
    head = {
        "id": "cmpl-" + fake.random_id(29),
        "object": "text_completion",
        "created": fake.now(),
        "model": body["model"],
        "system_fingerprint": None,
    }
    finish = behaviour.finish_reason or "stop"
    usage = {
        key: value
        for key, value in fake.usage(behaviour, tokens).items()
        if key in ("prompt_tokens", "completion_tokens", "total_tokens") or behaviour.usage_override
    }
    if not body.get("stream"):
        reply = {
            **head,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
        return await fake.send_json(request, reply, indent=2)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(piece: str | None, finish_reason: str | None = None) -> Frame:
        data: dict[str, Any] = {**head, "choices": []}
        if piece is not None:
            data["choices"] = [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish_reason}]
        if include_usage:
            data["usage"] = None
        return Frame(json.dumps(data, separators=(",", ":")))

    frames = [chunk(piece) for piece in behaviour.text_pieces()] + [chunk("", finish)]
    if include_usage:
        last = json.loads(chunk(None).payload)
        last["usage"] = usage
        frames.append(Frame(json.dumps(last, separators=(",", ":"))))
    frames.append(Frame("[DONE]"))
    return await fake.send_stream(request, frames, content_type=SSE_TYPE, error_frame=fake.mid_stream_error())
