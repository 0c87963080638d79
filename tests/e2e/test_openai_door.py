"""The official openai SDK against the gateway, in front of the fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
import pytest_asyncio

from gateway.ledger.base import LogQuery
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Tokens
from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway, channel, make_config, running_gateway, token


@pytest_asyncio.fixture
async def gw(tmp_path: Path, fake_openai: OpenAIFake) -> AsyncIterator[Gateway]:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url,
                                                     key=fake_openai.keys[0], models=["gpt-*", "text-*"],
                                                     model_map={"gpt-legacy": "gpt-4o-mini"})],
                         tokens=[token("alice"), token("bob", key="sk-test-bob-000000", models=["gpt-4o*"]),
                                 token("poor", key="sk-test-poor-000000", quota=1)])
    async with running_gateway(config) as gateway:
        yield gateway


def client(gw: Gateway, key: str = CALLER_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


async def rows(gw: Gateway) -> list:
    await gw.runtime.idle()  # replies go out before their settlement is written
    page = await gw.runtime.ledger.logs(LogQuery(limit=1000))
    return [row for _, row in page.rows]


async def assert_books_balance(gw: Gateway) -> None:
    await gw.runtime.idle()
    balances = await gw.runtime.ledger.balances()
    for name, balance in balances.items():
        charged = sum(r.quota for r in await rows(gw) if r.token == name)
        assert balance.used == charged, name
        assert balance.held == 0, name


MESSAGES = [{"role": "user", "content": "Say hello"}]


async def test_chat_non_stream_passes_body_through_and_bills_reported_usage(gw: Gateway,
                                                                           fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(text="Hi there", tokens=Tokens(input=1000, output=500, cached=200))
    result = await client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                      temperature=0.3, max_tokens=600)
    assert result.choices[0].message.content == "Hi there"
    sent = fake_openai.requests[-1]
    assert sent.json == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.3, "max_tokens": 600}
    assert sent.header("authorization") == f"Bearer {fake_openai.keys[0]}"
    [row] = await rows(gw)
    assert (row.outcome, row.status, row.channel, row.model) == ("ok", 200, "oa", "gpt-4o-mini")
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (800, 200, 500)
    # 800*0.15 + 200*0.075 + 500*0.60 = 435 USD per 1M -> 0.000435 USD -> 217.5 quota -> ceil 218
    assert row.quota == 218
    assert not row.usage_estimated
    await assert_books_balance(gw)


async def test_model_map_rewrites_only_the_model(gw: Gateway, fake_openai: OpenAIFake) -> None:
    await client(gw).chat.completions.create(model="gpt-legacy", messages=MESSAGES)
    assert fake_openai.requests[-1].json["model"] == "gpt-4o-mini"
    [row] = await rows(gw)
    assert (row.model, row.upstream_model) == ("gpt-legacy", "gpt-4o-mini")


async def test_stream_without_include_usage_hides_the_usage_chunk_but_bills_it(gw: Gateway,
                                                                               fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(text="one two three four", chunks=4, tokens=Tokens(input=40, output=4))
    stream = await client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert all(c.choices for c in chunks), "the usage-only chunk must not reach a caller who did not ask"
    assert fake_openai.requests[-1].json["stream_options"] == {"include_usage": True}
    [row] = await rows(gw)
    assert (row.prompt_tokens, row.completion_tokens, row.stream, row.outcome) == (40, 4, True, "ok")
    assert row.first_byte_ms is not None


async def test_stream_with_include_usage_relays_the_usage_chunk(gw: Gateway, fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(text="abc", tokens=Tokens(input=10, output=3))
    stream = await client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                      stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (10, 3)


async def test_embeddings(gw: Gateway) -> None:
    result = await client(gw).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    [row] = await rows(gw)
    assert row.endpoint == "embeddings" and row.outcome == "ok" and row.prompt_tokens > 0


async def test_models_list_shows_what_the_token_may_use(gw: Gateway) -> None:
    names = [m.id async for m in client(gw).models.list()]
    assert "gpt-legacy" in names
    bob = [m.id async for m in client(gw, "sk-test-bob-000000").models.list()]
    assert "gpt-legacy" not in bob


async def test_unknown_key_is_401(gw: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await client(gw, "sk-nobody").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert caught.value.response.headers.get("x-request-id")
    assert await rows(gw) == []  # nothing passed authentication, so no ledger row


async def test_model_outside_allowlist_is_403(gw: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        await client(gw, "sk-test-bob-000000").chat.completions.create(model="gpt-legacy", messages=MESSAGES)


async def test_unserved_model_is_404_model_not_found(gw: Gateway, fake_openai: OpenAIFake) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client(gw).chat.completions.create(model="llama-3", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert fake_openai.requests == []
    [row] = await rows(gw)
    assert (row.status, row.quota, row.outcome) == (404, 0, "error")


async def test_insufficient_quota_is_429_and_reaches_no_upstream(gw: Gateway, fake_openai: OpenAIFake) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await client(gw, "sk-test-poor-000000").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fake_openai.requests == []
    await assert_books_balance(gw)


async def test_upstream_400_is_returned_in_openai_shape_and_releases_the_hold(gw: Gateway,
                                                                             fake_openai: OpenAIFake) -> None:
    fake_openai.script.fail(400, error_message="Invalid 'messages[0].role': bad role.")
    with pytest.raises(openai.BadRequestError) as caught:
        await client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "bad role" in caught.value.message
    [row] = await rows(gw)
    assert (row.status, row.quota) == (400, 0)
    await assert_books_balance(gw)


@pytest.mark.parametrize(("body", "status", "fragment"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"messages": []}', 400, "model"),
    (b'{"model": "gpt-4o-mini", "messages": "hi"}', 400, "messages"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}', 400,
     "max_tokens"),
])
async def test_bad_input_gets_a_clean_openai_error(gw: Gateway, body: bytes, status: int, fragment: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(gw.url + "/v1/chat/completions", data=body,
                         headers={"Authorization": f"Bearer {CALLER_KEY}",
                                  "content-type": "application/json"}) as resp:
        payload = await resp.json()
        assert resp.status == status
        assert resp.headers["x-request-id"]
    assert payload["error"]["type"] == "invalid_request_error"
    assert fragment in payload["error"]["message"]
    assert "Traceback" not in json.dumps(payload)
    await assert_books_balance(gw)


async def test_body_over_the_limit_is_413(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         server={"admin_key": ADMIN_KEY, "max_body_bytes": 1000})
    async with running_gateway(config) as gw, aiohttp.ClientSession() as http:
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 5000}]})
        async with http.post(gw.url + "/v1/chat/completions", data=body,
                             headers={"Authorization": f"Bearer {CALLER_KEY}"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "request_too_large"


async def test_unknown_path_is_404_in_openai_shape(gw: Gateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(gw.url + "/v2/whatever") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_concurrent_calls_admit_exactly_what_the_quota_covers(tmp_path: Path,
                                                                    fake_openai: OpenAIFake) -> None:
    # Each hold: prompt estimate + 1000 output tokens at $1/$2 per 1M -> a little over 1000 quota.
    # A grant of 5,500 covers exactly 5 such holds whatever the small prompt estimate is.
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         pricing={"*": {"input": 1.0, "output": 2.0}},
                         tokens=[token("alice", quota=5_500)], billing={"quota_per_usd": 500_000})
    fake_openai.script.default = fake_openai.script.default.__class__(stall_before_headers=0.3)
    async with running_gateway(config) as gw:
        c = client(gw)

        async def one() -> str:
            try:
                await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=1000)
                return "ok"
            except openai.RateLimitError as exc:
                assert exc.code == "insufficient_quota"
                return "refused"

        results = await asyncio.gather(*(one() for _ in range(50)))
        assert results.count("ok") == 5
        assert len(fake_openai.requests) == 5
        await assert_books_balance(gw)


async def test_admin_api_needs_the_admin_key(gw: Gateway) -> None:
    await client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    await gw.runtime.idle()
    async with aiohttp.ClientSession() as http:
        async with http.get(gw.url + "/api/tokens") as resp:
            assert resp.status == 401
        async with http.get(gw.url + "/api/tokens", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
            data = {t["name"]: t for t in (await resp.json())["data"]}
        assert data["alice"]["used"] > 0 and data["alice"]["held"] == 0
        assert data["alice"]["remaining"] == data["alice"]["grant"] - data["alice"]["used"]
        async with http.get(gw.url + "/api/logs?token=alice",
                            headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
            logs = (await resp.json())["data"]
        assert len(logs) == 1 and logs[0]["token"] == "alice"


async def test_every_relayed_reply_says_how_long_it_spent_in_the_gateway(gw: Gateway) -> None:
    raw = await client(gw).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    overhead = float(raw.headers["x-gateway-overhead-ms"])
    assert 0 < overhead < 5000
    stream = await client(gw).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES,
                                                                        stream=True)
    assert float(stream.headers["x-gateway-overhead-ms"]) > 0
