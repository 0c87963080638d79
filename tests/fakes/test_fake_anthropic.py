"""The fake Anthropic is faithful: the official SDK parses each answer and raises the right errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
import pytest_asyncio

from tests.fakes import DEFAULT_TEXT, AnthropicFake, Tokens, ToolCall

MODEL = "claude-sonnet-4-6"
USER: Any = [{"role": "user", "content": "Say hello."}]
TOOLS: Any = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def client(fake: AnthropicFake, key: str | None = None) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.url, api_key=key or fake.keys[0], max_retries=0)


@pytest_asyncio.fixture
async def sdk(fake_anthropic: AnthropicFake) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with client(fake_anthropic) as official:
        yield official


async def raw_post(
    fake: AnthropicFake, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent = {"x-api-key": fake.keys[0], "anthropic-version": "2023-06-01"} if headers is None else headers
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + path, json=body, headers=sent) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_message_parses_with_full_usage(
    fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic
) -> None:
    fake_anthropic.script.reply(tokens=Tokens(input=20, output=8, cached=100, cache_write=40))
    raw = await sdk.messages.with_raw_response.create(model=MODEL, max_tokens=256, messages=USER)
    message = await raw.parse()
    assert raw.headers["request-id"].startswith("req_") and raw.headers["anthropic-organization-id"]
    assert message.id.startswith("msg_01") and message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == DEFAULT_TEXT
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (20, 8)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (100, 40)
    sent = fake_anthropic.requests[-1]
    assert sent.header("anthropic-version") and sent.json["max_tokens"] == 256
    assert sent.header("Authorization") == f"Bearer {fake_anthropic.keys[0]}"  # what SDK 2.x sends


async def test_stream_events_in_the_documented_order(fake_anthropic: AnthropicFake) -> None:
    fake_anthropic.script.reply(text="Hello there friend", chunks=3, tokens=Tokens(input=25, output=15))
    body = {"model": MODEL, "max_tokens": 64, "messages": USER, "stream": True}
    status, headers, raw = await raw_post(fake_anthropic, "/v1/messages", body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events = [e for e in raw.decode().split("\n\n") if e]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(e.split("\n")[1].removeprefix("data: ")) for e in events]
    assert all(d["type"] == n for d, n in zip(datas, names, strict=True))
    assert datas[0]["message"]["usage"]["input_tokens"] == 25 and datas[0]["message"]["content"] == []
    assert datas[-2]["usage"]["output_tokens"] == 15 and datas[-2]["delta"]["stop_reason"] == "end_turn"


async def test_sdk_stream_helper_accumulates_thinking_and_tool_use(
    fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic
) -> None:
    fake_anthropic.script.reply(
        thinking="Let me look that up.", tool_calls=[ToolCall("get_weather", {"city": "Rome"})]
    )
    async with sdk.messages.stream(
        model=MODEL,
        max_tokens=4096,
        messages=USER,
        tools=TOOLS,
        thinking={"type": "enabled", "budget_tokens": 2048},
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "tool_use"]
    thinking, tool_use = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me look that up." and thinking.signature
    assert (
        tool_use.type == "tool_use"
        and tool_use.input == {"city": "Rome"}
        and tool_use.id.startswith("toolu_")
    )
    assert final.stop_reason == "tool_use" and "input_json" in kinds and "signature" in kinds


async def test_thinking_and_tools_only_when_the_request_enables_them(
    fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic
) -> None:
    fake_anthropic.script.reply(thinking="hidden", tool_calls=[ToolCall("get_weather", {"city": "Rome"})])
    message = await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"


async def test_count_tokens_and_models(fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic) -> None:
    fake_anthropic.script.reply(tokens=Tokens(input=42, output=0))
    counted = await sdk.messages.count_tokens(model=MODEL, messages=USER)
    assert counted.input_tokens == 42
    page = await sdk.models.list(limit=2)
    assert [m.id for m in page.data] == list(fake_anthropic.models)[:2] and page.has_more
    every = [model.id async for model in sdk.models.list()]
    assert every == list(fake_anthropic.models)
    assert (await sdk.models.retrieve(MODEL)).display_name == "Claude Sonnet 4.6"
    with pytest.raises(anthropic.NotFoundError):
        await sdk.models.retrieve("claude-0")


async def test_auth_and_version_errors(fake_anthropic: AnthropicFake) -> None:
    async with client(fake_anthropic, key="sk-ant-wrong") as wrong:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await wrong.messages.create(model=MODEL, max_tokens=8, messages=USER)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": caught.value.response.headers["request-id"],
    }
    body = {"model": MODEL, "max_tokens": 8, "messages": USER}
    no_version = await raw_post(fake_anthropic, "/v1/messages", body, {"x-api-key": fake_anthropic.keys[0]})
    assert no_version[0] == 400 and b"anthropic-version" in no_version[2]
    no_key = await raw_post(fake_anthropic, "/v1/messages", body, {"anthropic-version": "2023-06-01"})
    assert no_key[0] == 401 and json.loads(no_key[2])["error"]["message"] == "x-api-key header is required"
    assert (await raw_post(fake_anthropic, "/v1/messages", body))[0] == 200


async def test_validation_matches_the_real_api(fake_anthropic: AnthropicFake) -> None:
    missing = await raw_post(fake_anthropic, "/v1/messages", {"model": MODEL, "messages": USER})
    assert missing[0] == 400 and json.loads(missing[2])["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    system_role = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "system", "content": "x"}, *USER]}
    assert b"Unexpected role" in (await raw_post(fake_anthropic, "/v1/messages", system_role))[2]
    too_hot = {"model": MODEL, "max_tokens": 8, "messages": USER, "temperature": 1.5}
    assert (await raw_post(fake_anthropic, "/v1/messages", too_hot))[0] == 400
    merged = {"model": MODEL, "max_tokens": 8, "messages": [*USER, *USER]}  # consecutive turns are merged
    assert (await raw_post(fake_anthropic, "/v1/messages", merged))[0] == 200
    budget = {
        "model": MODEL,
        "max_tokens": 1500,
        "messages": USER,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
    }
    assert b"must be greater than" in (await raw_post(fake_anthropic, "/v1/messages", budget))[2]


async def test_tool_results_must_answer_the_previous_tool_use(
    fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic
) -> None:
    use = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
    }
    wrong: Any = [
        *USER,
        use,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "sunny"}]},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.create(model=MODEL, max_tokens=8, messages=wrong, tools=TOOLS)
    assert "unexpected `tool_use_id`" in str(caught.value)
    unanswered: Any = [*USER, use, {"role": "user", "content": "well?"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.create(model=MODEL, max_tokens=8, messages=unanswered, tools=TOOLS)
    assert "without `tool_result` blocks" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (402, anthropic.PaymentRequiredError, "billing_error"),
    ],
)
async def test_scripted_status_raises_the_sdk_class(
    fake_anthropic: AnthropicFake,
    sdk: anthropic.AsyncAnthropic,
    status: int,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_anthropic.script.fail(status, retry_after="3")
    with pytest.raises(error_class) as caught:
        await sdk.messages.create(model=MODEL, max_tokens=8, messages=USER)
    assert caught.value.status_code == status and caught.value.response.headers["retry-after"] == "3"
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == error_type


async def test_mid_stream_overloaded_error(
    fake_anthropic: AnthropicFake, sdk: anthropic.AsyncAnthropic
) -> None:
    fake_anthropic.script.reply(error_event_after=4)
    stream = await sdk.messages.create(model=MODEL, max_tokens=8, messages=USER, stream=True)
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async for event in stream:
            seen.append(event.type)
    assert seen == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]  # ping is skipped by the SDK
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "overloaded_error"
