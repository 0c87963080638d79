"""What the upstream says it used, when it lies or says nothing (reliability §5.2 #28, #29), huge events
(#36), and response headers that must not reach the caller (#8, upstream side)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from gateway.ledger.base import Outcome
from gateway.protocols import estimate
from tests.fakes.base import run_fake
from tests.fakes.script import Tokens
from tests.hardening.world import (
    GEMINI,
    OPENAI,
    PAIRS,
    PROTOCOLS,
    last_row,
    pair_id,
    terminal,
    world,
)
from tests.harness import token

TEXT = "Hello! This is the fake upstream speaking."


@pytest.mark.parametrize("tokens", [Tokens(input=-1_000_000, output=-1_000_000, cached=-5),
                                    Tokens(input=10**12, output=10**12, reasoning=10**12)],
                         ids=["negative", "absurd"])
async def test_negative_or_absurd_usage_is_clamped_never_credits_and_never_bills_past_the_hold(
        tmp_path: Path, tokens: Tokens) -> None:
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            for stream in (False, True):
                used_before = (await w.gw.runtime.ledger.balance("alice")).used
                w.fake(channel_type).script.reply(tokens=tokens)
                with capture_logs() as logs:
                    reply = await w.call(door, channel_type, stream=stream)
                    row = await last_row(w)
                assert reply.status == 200 and reply.text(door) == TEXT, pair_id((door, channel_type))
                if stream:
                    assert terminal(door, reply.events) == "done"
                assert row.flags == "usage_clamped" and row.outcome is Outcome.OK
                assert 0 <= row.quota <= w.books.amounts[row.request_id]
                for count in (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.reasoning_tokens):
                    assert 0 <= count <= 10_000_000
                assert (await w.gw.runtime.ledger.balance("alice")).used == used_before + row.quota
                assert [e["channel"] for e in logs if e["event"] == "usage_clamped"] == [channel_type.value]


class SilentOnUsage:
    """An OpenAI-compatible and a Gemini-compatible server that stream text but never report usage, as
    some compatible servers do (no usage chunk despite include_usage; no usageMetadata)."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.openai)
        self.app.router.add_post("/v1beta/models/{target}", self.gemini)

    async def _sse(self, request: web.Request, chunks: list[str]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(f"data: {chunk}\n\n".encode())
        await response.write_eof()
        return response

    async def openai(self, request: web.Request) -> web.StreamResponse:
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
        pieces = [{"role": "assistant", "content": ""}, {"content": TEXT[:20]}, {"content": TEXT[20:]}]
        chunks = [json.dumps({**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
                  for d in pieces]
        chunks.append(json.dumps({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        return await self._sse(request, [*chunks, "[DONE]"])

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        def chunk(text: str, finish: str | None) -> str:
            candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            return json.dumps({"candidates": [candidate], "modelVersion": "gemini-2.5-flash"})
        return await self._sse(request, [chunk(TEXT[:20], None), chunk(TEXT[20:], "STOP")])


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    server = SilentOnUsage()
    async with run_fake(server.app) as url:
        yield url


async def test_a_stream_without_usage_is_billed_from_what_was_relayed(tmp_path: Path, silent: str) -> None:
    async with world(tmp_path, urls={OPENAI: silent, GEMINI: silent}) as w:
        for door in PROTOCOLS:
            for channel_type in (OPENAI, GEMINI):
                reply = await w.call(door, channel_type, stream=True)
                assert reply.status == 200 and terminal(door, reply.events) == "done"
                assert reply.text(door) == TEXT, pair_id((door, channel_type))
                row = await last_row(w)
                assert row.outcome is Outcome.OK and row.usage_estimated
                assert row.completion_tokens == estimate.tokens_from_chars(len(TEXT)) > 0
                assert row.prompt_tokens > 0 and row.quota > 0


HUGE = 4 * 1024 * 1024


async def test_a_4_mib_event_is_relayed_whole_and_billed_like_the_same_text_in_small_events(
        tmp_path: Path) -> None:
    text = ("lorem ipsum dolor sit amet " * (HUGE // 27 + 1))[:HUGE]
    async with world(tmp_path, tokens=[token("alice", quota=None)]) as w:  # ~1M tokens a call
        for door, channel_type in PAIRS:
            quotas = []
            for chunks in (1, 64):  # one 4 MiB delta, then the same text in 64 deltas
                w.fake(channel_type).script.reply(text=text, chunks=chunks)
                reply = await w.call(door, channel_type, stream=True)
                assert reply.status == 200 and terminal(door, reply.events) == "done"
                assert reply.text(door) == text, pair_id((door, channel_type))
                row = await last_row(w)
                assert row.outcome is Outcome.OK
                quotas.append((row.completion_tokens, row.quota))
            assert quotas[0] == quotas[1] and quotas[0][1] > 0
            w.fake(channel_type).script.reply(text=text)
            whole = await w.call(door, channel_type, stream=False)  # and a 4 MiB JSON body
            assert whole.status == 200 and whole.text(door) == text
            assert (await last_row(w)).quota == quotas[0][1]


async def test_an_event_past_the_decoders_cap_ends_the_stream_with_an_error(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.fake(OPENAI).script.reply(huge_event_bytes=17 * 1024 * 1024)  # the decoder's cap is 16 MiB
        reply = await w.call(OPENAI, OPENAI, stream=True)
        assert reply.status == 200 and terminal(OPENAI, reply.events) == "error"
        assert "larger than" in json.loads(reply.events[-1].data)["error"]["message"]
        row = await last_row(w)
        assert row.outcome is Outcome.ERROR and row.quota > 0  # the first deltas were delivered


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_upstream_cookies_and_gzip_never_reach_the_caller_nor_go_back_upstream(
        tmp_path: Path, stream: bool) -> None:
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            fake = w.fake(channel_type)
            fake.script.reply(set_cookie="session=tenant-a; Path=/", gzip=True,
                              headers={"openai-organization": "org-secret", "Connection": "keep-alive"})
            reply = await w.call(door, channel_type, stream=stream)
            assert reply.status == 200 and reply.text(door) == TEXT, pair_id((door, channel_type))
            headers = {k.lower(): v for k, v in reply.headers.items()}
            assert "set-cookie" not in headers and "openai-organization" not in headers
            assert headers.get("content-encoding", "identity") == "identity"
            if not stream:
                assert int(headers["content-length"]) == len(reply.body)
            await w.check_books()
            await w.call(door, channel_type, stream=stream)
            assert fake.requests[-1].header("Cookie") is None  # tenant A's cookie is not sent for B


async def test_the_gateway_world_serves_clean_calls_first(tmp_path: Path) -> None:
    """The baseline the fault tests compare against: every pair answers and bills normally."""
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            for stream in (False, True):
                reply = await w.call(door, channel_type, stream=stream)
                assert reply.status == 200 and reply.text(door) == TEXT
                if stream:
                    assert terminal(door, reply.events) == "done"
        rows = await w.check_books()
        assert len(rows) == 12 and all(r.outcome is Outcome.OK and r.quota > 0 for r in rows)
        assert {(r.protocol, r.channel) for r in rows} == {(d.value, c.value) for d, c in PAIRS}


