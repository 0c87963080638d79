"""A tiny local OpenAI-compatible upstream so the example config answers with no API key at all.

It echoes the last user message back, streams it word by word, and reports usage like OpenAI does.
It is a demo, not a test fake: the test suite has strict fakes of its own.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Any

from aiohttp import web


def _reply_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    if isinstance(last, list):
        last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    return f"Hello from the gateway demo upstream. You said: {last}"


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}}


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    text = _reply_text(body)
    words = text.split(" ")
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    ident, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), body.get("model", "demo")
    if not body.get("stream"):
        return web.json_response({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": _usage(prompt, len(words)), "system_fingerprint": "fp_demo"})
    response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        data: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created,
                                "model": model, "system_fingerprint": "fp_demo",
                                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    await response.write(chunk({"role": "assistant", "content": "", "refusal": None}, None))
    for i, word in enumerate(words):
        await response.write(chunk({"content": word if i == 0 else " " + word}, None))
    await response.write(chunk({}, "stop"))
    if include_usage:
        final = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "system_fingerprint": "fp_demo", "choices": [], "usage": _usage(prompt, len(words))}
        await response.write(b"data: " + json.dumps(final).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def embeddings(request: web.Request) -> web.Response:
    body = await request.json()
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    vector: Any = [0.1, 0.2, 0.3]
    if body.get("encoding_format") == "base64":  # what the openai SDK asks for by default
        vector = base64.b64encode(struct.pack("<3f", *vector)).decode()
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(len(items))]
    tokens = sum(len(str(x)) // 4 + 1 for x in items)
    return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def create_demo_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", chat), web.post("/v1/embeddings", embeddings)])
    return app
