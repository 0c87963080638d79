"""A stream's first event goes to the caller as soon as it is relayed, even when the upstream sent the
whole stream in one burst (one read): the caller's first byte does not wait for the rest to be worked
through. Everything after it still leaves in as few writes as the reads allow, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.web.responder import AiohttpResponder
from tests.fakes.base import run_fake
from tests.harness import CALLER_KEY, channel, make_config, running_gateway


def _event(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"id": "chatcmpl-burst", "object": "chat.completion.chunk", "created": 1764000000,
            "model": "gpt-4o-mini", "system_fingerprint": "fp_burst",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


FIRST = _event(_chunk({"role": "assistant", "content": "", "refusal": None}))
REST = b"".join([
    _event(_chunk({"content": "Hello"})),
    _event(_chunk({"content": " there"})),
    _event(_chunk({}, "stop")),
    _event({"id": "chatcmpl-burst", "object": "chat.completion.chunk", "created": 1764000000,
            "model": "gpt-4o-mini", "system_fingerprint": "fp_burst", "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}),
    b"data: [DONE]\n\n",
])


async def burst(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    await response.write(FIRST + REST)  # the whole stream in one write: one read for the gateway
    await response.write_eof()
    return response


async def test_the_first_event_of_a_burst_is_written_on_its_own(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[bytes] = []
    original = AiohttpResponder.write

    async def recording(self: AiohttpResponder, data: bytes) -> None:
        writes.append(data)
        await original(self, data)

    monkeypatch.setattr(AiohttpResponder, "write", recording)
    upstream = web.Application()
    upstream.router.add_post("/v1/chat/completions", burst)
    async with run_fake(upstream) as url:
        config = make_config(tmp_path, channels=[channel("oa", "openai", url + "/v1")])
        async with running_gateway(config) as gw, aiohttp.ClientSession() as http:
            async with http.post(gw.url + "/v1/chat/completions",
                                 json={"model": "gpt-4o-mini", "stream": True,
                                       "stream_options": {"include_usage": True},
                                       "messages": [{"role": "user", "content": "hi"}]},
                                 headers={"Authorization": f"Bearer {CALLER_KEY}"}) as reply:
                assert reply.status == 200
                body = await reply.read()
            await gw.runtime.idle()
    assert body == FIRST + REST  # pass-through: the upstream's bytes, unchanged
    assert writes[0] == FIRST
    assert b"".join(writes) == FIRST + REST
