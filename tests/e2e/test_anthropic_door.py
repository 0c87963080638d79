"""The official anthropic SDK against the gateway's Anthropic door, in front of the fake Anthropic upstream.

Fidelity is checked against a twin: two fakes seeded alike answer the same request with the same bytes,
so what the caller gets through the gateway must equal what it gets from the provider directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
import pytest_asyncio

from gateway.ledger.base import LogQuery
from gateway.protocols import Protocol, estimate
from tests.fakes import AnthropicFake, OpenAIFake, Tokens, run_fake
from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway, channel, make_config, running_gateway, token

MODEL = "claude-sonnet-4-6"
USER: Any = [{"role": "user", "content": "Say hello."}]
BOB, POOR = "sk-test-bob-000000", "sk-test-poor-000000"
BETA = "interleaved-thinking-2025-05-14"


def tokens() -> list[dict[str, Any]]:
    return [token("alice"), token("bob", key=BOB, models=["claude-haiku*"]), token("poor", key=POOR, quota=1)]


@pytest_asyncio.fixture
async def twins() -> AsyncIterator[tuple[AnthropicFake, AnthropicFake]]:
    """Two fakes that answer alike: one behind the gateway, one called directly."""
    behind, direct = AnthropicFake(seed=7), AnthropicFake(seed=7)
    async with run_fake(behind), run_fake(direct):
        yield behind, direct


@pytest_asyncio.fixture
async def gw(tmp_path: Path, twins: tuple[AnthropicFake, AnthropicFake]) -> AsyncIterator[Gateway]:
    behind = twins[0]
    config = make_config(tmp_path, channels=[channel("an", "anthropic", behind.url, key=behind.keys[0],
                                                     models=["claude-*"],
                                                     model_map={"claude-alias": MODEL})],
                         tokens=tokens())
    async with running_gateway(config) as gateway:
        yield gateway


def client(gw: Gateway, key: str = CALLER_KEY, *, prefix: str = "/claude") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + prefix, api_key=key, max_retries=0)


def direct_client(fake: AnthropicFake) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.url, api_key=fake.keys[0], max_retries=0)


async def rows(gw: Gateway) -> list[Any]:
    await gw.runtime.idle()  # replies go out before their settlement is written
    page = await gw.runtime.ledger.logs(LogQuery(limit=1000))
    return [row for _, row in page.rows]


async def assert_books_balance(gw: Gateway) -> None:
    for name, balance in (await gw.runtime.ledger.balances()).items():
        assert balance.used == sum(r.quota for r in await rows(gw) if r.token == name), name
        assert balance.held == 0, name


def script_both(twins: tuple[AnthropicFake, AnthropicFake], **fields: Any) -> None:
    for fake in twins:
        fake.script.reply(**fields)


# A request using the features the gateway does not model: thinking, prompt caching, metadata, betas.
FEATURES: dict[str, Any] = {
    "model": MODEL, "max_tokens": 2048,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "messages": USER, "thinking": {"type": "enabled", "budget_tokens": 1024},
    "metadata": {"user_id": "user-42"},
}


async def test_message_is_passed_through_byte_for_byte_both_ways(gw: Gateway, twins: Any) -> None:
    behind, direct = twins
    script_both(twins, thinking="Let me weigh this.", tokens=Tokens(input=1000, output=500, cached=2000,
                                                                     cache_write=400))
    through = await client(gw).messages.with_raw_response.create(**FEATURES, extra_headers={
        "anthropic-beta": BETA})
    straight = await direct_client(direct).messages.with_raw_response.create(**FEATURES)
    assert through.http_response.content == straight.http_response.content
    sent = behind.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body == through.http_request.content  # untouched: the model needed no rewrite
    assert sent.header("x-api-key") == behind.keys[0] and sent.header("authorization") is None
    assert sent.header("anthropic-beta") == BETA
    assert sent.header("anthropic-version") == "2023-06-01"  # the channel's, not the SDK's
    message = await through.parse()
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Let me weigh this." and thinking.signature
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (2000, 400)
    [row] = await rows(gw)
    assert (row.outcome, row.status, row.protocol, row.endpoint, row.channel) == ("ok", 200, "anthropic",
                                                                                "chat", "an")
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.completion_tokens) == (
        1000, 2000, 400, 500)
    # 1000*3 + 2000*0.30 + 400*3.75 + 500*15 = 12,600 USD per 1M -> 0.0126 USD * 500,000 = 6,300 quota
    assert row.quota == 6300 and not row.usage_estimated
    await assert_books_balance(gw)


async def test_stream_is_passed_through_byte_for_byte_and_billed(gw: Gateway, twins: Any) -> None:
    behind, direct = twins
    script_both(twins, thinking="Hmm, a greeting.", chunks=3,
                tokens=Tokens(input=100, output=60, cached=1000, cache_write=0))
    body = {**FEATURES, "stream": True}
    async with client(gw).messages.with_streaming_response.create(**body) as through:
        through_bytes = await through.read()
    async with direct_client(direct).messages.with_streaming_response.create(**body) as straight:
        direct_bytes = await straight.read()
    assert through_bytes == direct_bytes
    assert b"signature_delta" in through_bytes and b"event: ping" in through_bytes
    assert json.loads(behind.requests[-1].body) == body
    [row] = await rows(gw)
    assert (row.stream, row.outcome, row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (
        True, "ok", 100, 1000, 60)
    # 100*3 + 1000*0.30 + 60*15 = 1,500 USD per 1M -> 750 quota
    assert row.quota == 750 and row.first_byte_ms is not None


async def test_sdk_stream_helper_gets_thinking_text_and_final_usage(gw: Gateway, twins: Any) -> None:
    twins[0].script.reply(thinking="Plan: greet.", text="Hello there", chunks=2,
                          tokens=Tokens(input=30, output=12, cache_write=50))
    async with client(gw).messages.stream(**FEATURES) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello there"
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].signature  # type: ignore[union-attr]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 12)
    [row] = await rows(gw)
    # 30*3 + 50*3.75 + 12*15 = 457.5 USD per 1M -> 228.75 quota -> ceil 229
    assert (row.cache_write_tokens, row.quota) == (50, 229)


async def test_model_map_changes_only_the_model_and_bills_the_requested_name(gw: Gateway, twins: Any) -> None:
    behind = twins[0]
    raw = await client(gw).messages.with_raw_response.create(model="claude-alias", max_tokens=64, messages=USER,
                                                              stop_sequences=["END"])
    caller_body = json.loads(raw.http_request.content)
    upstream_body = behind.requests[-1].json
    assert upstream_body == {**caller_body, "model": MODEL}
    [row] = await rows(gw)
    assert (row.model, row.upstream_model) == ("claude-alias", MODEL)


async def test_bare_base_url_reaches_v1_messages(gw: Gateway, twins: Any) -> None:
    message = await client(gw, prefix="").messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert message.content[0].type == "text"
    assert twins[0].requests[-1].path == "/v1/messages"


async def test_x_api_key_is_accepted_and_wins_over_bearer(gw: Gateway) -> None:
    body = {"model": MODEL, "max_tokens": 16, "messages": USER}
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.url + "/v1/messages", json=body, headers={
                "x-api-key": CALLER_KEY, "anthropic-version": "2023-06-01"}) as resp:
            assert resp.status == 200 and (await resp.json())["type"] == "message"
        async with http.post(gw.url + "/claude/v1/messages", json=body, headers={
                "x-api-key": "sk-wrong", "Authorization": f"Bearer {CALLER_KEY}"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["type"] == "authentication_error"


# ---- count_tokens ------------------------------------------------------------------------------------

async def test_count_tokens_goes_to_the_anthropic_channel_and_is_free(gw: Gateway, twins: Any) -> None:
    behind = twins[0]
    behind.script.reply(tokens=Tokens(input=321, output=0))
    counted = await client(gw).messages.count_tokens(model=MODEL, messages=USER, system="Be brief.",
                                                     extra_headers={"anthropic-beta": BETA})
    assert counted.input_tokens == 321
    sent = behind.requests[-1]
    assert sent.path == "/v1/messages/count_tokens" and sent.header("anthropic-beta") == BETA
    assert sent.json == {"model": MODEL, "messages": USER, "system": "Be brief."}
    [row] = await rows(gw)
    assert (row.endpoint, row.outcome, row.status, row.quota, row.channel) == ("count_tokens", "ok", 200, 0,
                                                                               "an")
    balance = await gw.runtime.ledger.balance("alice")
    assert (balance.used, balance.held) == (0, 0)


async def test_count_tokens_without_an_anthropic_channel_is_estimated(tmp_path: Path,
                                                                     fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    async with running_gateway(config) as gw:
        raw = await client(gw).messages.with_raw_response.count_tokens(model=MODEL, messages=USER)
        counted = await raw.parse()
        assert raw.headers["x-gateway-estimated"] == "true"
        body = json.loads(raw.http_request.content)
        assert counted.input_tokens == estimate.estimate_prompt_tokens(Protocol.ANTHROPIC, body) > 0
        assert fake_openai.requests == []
        [row] = await rows(gw)
        assert (row.endpoint, row.quota, row.channel, row.usage_estimated) == ("count_tokens", 0, "", True)


async def test_count_tokens_for_an_unserved_model_is_404(gw: Gateway, twins: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client(gw).messages.count_tokens(model="llama-3", messages=USER)
    assert caught.value.type == "not_found_error"
    assert twins[0].requests == []
    [row] = await rows(gw)
    assert (row.status, row.quota, row.outcome) == (404, 0, "error")


# ---- models ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["/claude", ""])
async def test_models_list_and_retrieve_in_anthropic_shape(gw: Gateway, prefix: str) -> None:
    sdk = client(gw, prefix=prefix)
    names = [m.id async for m in sdk.models.list()]
    assert "claude-alias" in names
    model = await sdk.models.retrieve("claude-alias")
    assert (model.type, model.id) == ("model", "claude-alias")
    with pytest.raises(anthropic.NotFoundError):
        await sdk.models.retrieve("gpt-4o")
    bob = [m.id async for m in client(gw, BOB, prefix=prefix).models.list()]
    assert "claude-alias" not in bob


async def test_models_list_pages_with_limit_and_after_id(gw: Gateway) -> None:
    headers = {"x-api-key": CALLER_KEY, "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(gw.url + "/v1/models?limit=1") as resp:
            first = await resp.json()
        assert first["has_more"] is False and len(first["data"]) == 1  # one literal name: claude-alias
        assert first["first_id"] == first["last_id"] == "claude-alias"
        async with http.get(gw.url + "/v1/models?after_id=claude-alias") as resp:
            assert (await resp.json())["data"] == []


# ---- errors (SPEC §7) in Anthropic's shape -----------------------------------------------------------

@pytest.mark.parametrize(("key", "model", "messages", "error", "kind"), [
    ("sk-nobody", MODEL, USER, anthropic.AuthenticationError, "authentication_error"),
    (BOB, MODEL, USER, anthropic.PermissionDeniedError, "permission_error"),
    (CALLER_KEY, "llama-3", USER, anthropic.NotFoundError, "not_found_error"),
    (CALLER_KEY, MODEL, [], anthropic.BadRequestError, "invalid_request_error"),
    (POOR, MODEL, USER, anthropic.RateLimitError, "rate_limit_error"),
])
async def test_gateway_errors_reach_the_sdk_as_its_exceptions(gw: Gateway, twins: Any, key: str, model: str,
                                                              messages: Any, error: type, kind: str) -> None:
    with pytest.raises(error) as caught:
        await client(gw, key).messages.create(model=model, max_tokens=64, messages=messages)
    assert caught.value.type == kind
    assert caught.value.response.headers["x-request-id"]
    if key == POOR:
        assert caught.value.response.headers["x-should-retry"] == "false"
    assert twins[0].requests == []
    await assert_books_balance(gw)


async def test_no_price_is_400(tmp_path: Path, fake_anthropic: AnthropicFake) -> None:
    config = make_config(tmp_path, channels=[channel("an", "anthropic", fake_anthropic.url,
                                                     key=fake_anthropic.keys[0])],
                         pricing={"gpt-*": {"input": 1, "output": 1}})
    async with running_gateway(config) as gw:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client(gw).messages.create(model=MODEL, max_tokens=64, messages=USER)
        assert "no price configured" in str(caught.value.api_message)


async def test_body_too_large_is_413_request_too_large(tmp_path: Path, fake_anthropic: AnthropicFake) -> None:
    config = make_config(tmp_path, channels=[channel("an", "anthropic", fake_anthropic.url,
                                                     key=fake_anthropic.keys[0])],
                         server={"admin_key": ADMIN_KEY, "max_body_bytes": 1000})
    async with running_gateway(config) as gw:
        with pytest.raises(anthropic.ContentTooLargeError) as caught:
            await client(gw).messages.create(model=MODEL, max_tokens=64,
                                             messages=[{"role": "user", "content": "x" * 5000}])
        assert caught.value.type == "request_too_large"


@pytest.mark.parametrize(("status", "error", "kind", "code"), [
    (429, anthropic.ServiceUnavailableError, "overloaded_error", 503),  # the channel is limited, not the key
    (529, anthropic.ServiceUnavailableError, "overloaded_error", 503),
    (500, anthropic.InternalServerError, "api_error", 502),
    (504, anthropic.GatewayTimeoutError, "api_error", 504),
])
async def test_upstream_failures_reach_the_sdk_reshaped(gw: Gateway, twins: Any, status: int, error: type,
                                                        kind: str, code: int) -> None:
    behind = twins[0]
    behind.script.fail(status, error_message=f"upstream says {status} for key {behind.keys[0]}")
    with pytest.raises(error) as caught:
        await client(gw).messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert (caught.value.status_code, caught.value.type) == (code, kind)
    assert behind.keys[0] not in caught.value.response.text and behind.url not in caught.value.response.text
    [row] = await rows(gw)
    assert (row.outcome, row.quota) == ("error", 0)
    await assert_books_balance(gw)


async def test_upstream_400_is_passed_on_as_invalid_request(gw: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:  # the fake's own check: thinking budget too small
        await client(gw).messages.create(model=MODEL, max_tokens=2048, messages=USER,
                                         thinking={"type": "enabled", "budget_tokens": 10})
    assert caught.value.type == "invalid_request_error" and "budget_tokens" in str(caught.value.api_message)


async def test_mid_stream_overload_reaches_the_caller_as_an_error_event(gw: Gateway, twins: Any) -> None:
    # message_start, content_block_start, ping, one text delta, then `event: error` overloaded_error
    twins[0].script.reply(error_event_after=4, chunks=3, tokens=Tokens(input=100, output=40))
    received = ""
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client(gw).messages.stream(model=MODEL, max_tokens=256, messages=USER) as stream:
            async for piece in stream.text_stream:
                received += piece
    assert caught.value.type == "overloaded_error"
    assert received == "Hello! This is"
    [row] = await rows(gw)
    assert (row.outcome, row.stream) == ("error", True) and "Overloaded" in row.error
    # Billed for what was produced: 100 prompt tokens reported, 14 relayed bytes -> ceil(14/3) = 5 tokens
    # 100*3 + 5*15 = 375 USD per 1M -> 187.5 -> 188 quota
    assert (row.prompt_tokens, row.completion_tokens, row.quota) == (100, 5, 188)
    await assert_books_balance(gw)


async def test_unknown_path_under_claude_answers_in_anthropic_shape(gw: Gateway) -> None:
    async with aiohttp.ClientSession() as http, http.get(gw.url + "/claude/v1/nothing") as resp:
        assert resp.status == 404
        assert (await resp.json())["type"] == "error"
