"""Per-token rate limits through a running gateway: rpm, max_concurrent and tpm under concurrent load,
429 with Retry-After in each caller's protocol, one log row and no hold per refused call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from gateway.ledger.base import LogQuery
from gateway.reload import Reloader
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour, Tokens
from tests.harness import CALLER_KEY, Gateway, channel, make_config, running_gateway, token
from tests.observability.helpers import chat, eventually, scrape, value
from tests.ops.process import config_data, write_config

BOB_KEY = "sk-test-bob-00000000"


def retry_after(headers: dict[str, str]) -> int:
    seconds = int(headers["Retry-After"])
    assert seconds >= 1
    return seconds


async def rows(gw: Gateway) -> list:
    await gw.runtime.idle()
    return [row for _, row in (await gw.runtime.ledger.logs(LogQuery(limit=1000))).rows]


async def test_rpm_under_concurrent_load_admits_exactly_the_limit_and_only_for_that_token(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         tokens=[token("alice", rpm=5), token("bob", key=BOB_KEY, rpm=50)])
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        calls = [chat(session, gw) for _ in range(12)] + [chat(session, gw, key=BOB_KEY) for _ in range(8)]
        results = await asyncio.gather(*calls)
        alice, bob = results[:12], results[12:]
        assert sorted(status for status, _, _ in alice) == [200] * 5 + [429] * 7
        assert [status for status, _, _ in bob] == [200] * 8  # another token is not affected
        for status, headers, body in alice:
            if status == 429:
                assert 1 <= retry_after(headers) <= 60
                error = json.loads(body)["error"]
                assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
                assert "requests per minute" in error["message"]
        assert len(fake_openai.requests) == 13  # refused calls never reached an upstream
        logged = await rows(gw)
        refused = [r for r in logged if r.status == 429]
        assert len(refused) == 7 and all(r.quota == 0 and r.token == "alice" for r in refused)
        assert all("requests per minute" in r.error for r in refused)
        balance = await gw.runtime.ledger.balance("alice")
        assert balance.held == 0 and balance.requests == 12
        samples = await scrape(session, gw)
        assert value(samples, "gateway_rate_limited_total", limit="rpm") == 7
        with pytest.raises(openai.RateLimitError) as caught:  # what the official SDK makes of it
            await openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0
                                     ).chat.completions.create(model="gpt-4o-mini",
                                                               messages=[{"role": "user", "content": "hi"}])
        assert caught.value.code == "rate_limit_exceeded"
        assert int(caught.value.response.headers["retry-after"]) >= 1


async def test_max_concurrent_holds_calls_in_flight_to_the_limit(tmp_path: Path, fake_openai: OpenAIFake
                                                                 ) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         tokens=[token("alice", max_concurrent=2), token("bob", key=BOB_KEY)])
    fake_openai.script.default = Behaviour(stall_before_headers=0.4)
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        results = await asyncio.gather(*[chat(session, gw) for _ in range(6)],
                                       *[chat(session, gw, key=BOB_KEY) for _ in range(4)])
        alice = results[:6]
        assert sorted(status for status, _, _ in alice) == [200, 200, 429, 429, 429, 429]
        assert [status for status, _, _ in results[6:]] == [200] * 4
        for status, headers, body in alice:
            if status == 429:
                assert retry_after(headers) == 1
                assert "concurrent requests" in json.loads(body)["error"]["message"]
        await gw.runtime.idle()
        assert gw.runtime.limits.in_flight("alice") == 0  # slots come back when calls end
        fake_openai.script.default = Behaviour()
        assert [s for s, _, _ in await asyncio.gather(chat(session, gw), chat(session, gw))] == [200, 200]


async def test_a_caller_that_hangs_up_gives_its_concurrency_slot_back(tmp_path: Path, fake_openai: OpenAIFake
                                                                     ) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         tokens=[token("alice", max_concurrent=1)])
    fake_openai.script.push(Behaviour(stall_before_headers=5))
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        hung = asyncio.create_task(chat(session, gw))
        await eventually(lambda: bool(fake_openai.requests))
        assert (await chat(session, gw))[0] == 429
        hung.cancel()
        await eventually(lambda: gw.runtime.limits.in_flight("alice") == 0)
        assert (await chat(session, gw))[0] == 200


async def test_tpm_counts_the_estimate_at_admission_and_what_was_billed_at_settlement(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         tokens=[token("alice", tpm=3000)])
    fake_openai.script.default = Behaviour(tokens=Tokens(input=100, output=20))
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        # ~2510 estimated each: two at once do not fit, so one of them is refused...
        first = await asyncio.gather(chat(session, gw, max_tokens=2500), chat(session, gw, max_tokens=2500))
        assert sorted(status for status, _, _ in first) == [200, 429]
        refused = next(r for r in first if r[0] == 429)
        assert "tokens per minute" in json.loads(refused[2])["error"]["message"]
        await gw.runtime.idle()
        # ...but once it settled it counts the 120 tokens billed, not its estimate: more calls fit.
        for _ in range(3):
            assert (await chat(session, gw, max_tokens=2500))[0] == 200
            await gw.runtime.idle()
        status, headers, _ = await chat(session, gw, max_tokens=2900)  # 4 × 120 + ~2910 > 3000
        assert status == 429 and 1 <= retry_after(headers) <= 60


async def test_anthropic_callers_get_their_own_429_shape_with_retry_after(
        tmp_path: Path, fake_anthropic: AnthropicFake) -> None:
    config = make_config(tmp_path, channels=[channel("an", "anthropic", fake_anthropic.url,
                                                     key=fake_anthropic.keys[0])],
                         tokens=[token("alice", rpm=1)])
    async with running_gateway(config) as gw:
        client = anthropic.AsyncAnthropic(base_url=gw.url + "/claude", api_key=CALLER_KEY, max_retries=0)
        request = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
        await client.messages.create(**request)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(**request)
        body = caught.value.body
        assert isinstance(body, dict) and body["error"]["type"] == "rate_limit_error"
        assert int(caught.value.response.headers["retry-after"]) >= 1


async def test_limits_survive_a_reload_and_take_the_new_values(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    path = tmp_path / "gateway.yaml"
    channels = [channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])]
    data = config_data(tmp_path / "gateway.db", channels, tokens=[token("alice", rpm=2)])
    write_config(path, data)
    config = make_config(tmp_path, channels=channels, tokens=[token("alice", rpm=2)])
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        gw.runtime.reloader = Reloader(gw.runtime, path)
        assert [(await chat(session, gw))[0] for _ in range(3)] == [200, 200, 429]
        data["tokens"] = [token("alice", rpm=3)]
        write_config(path, data)
        assert (await gw.runtime.reloader.reload("api")).ok
        # the two calls of this minute still count; the new limit leaves room for one more
        assert [(await chat(session, gw))[0] for _ in range(2)] == [200, 429]
