"""The fake OpenAI is faithful: the official openai SDK parses every answer and raises the right errors."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio

from tests.fakes import DEFAULT_TEXT, OpenAIFake, Tokens, ToolCall

USER: Any = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def client(fake: OpenAIFake, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=key or fake.keys[0], max_retries=0)


@pytest_asyncio.fixture
async def sdk(fake_openai: OpenAIFake) -> AsyncIterator[openai.AsyncOpenAI]:
    async with client(fake_openai) as official:
        yield official


async def raw_post(fake: OpenAIFake, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {fake.keys[0]}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.url + path, json=body, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_chat_completion_parses_with_usage_details(
    fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.script.reply(tokens=Tokens(input=120, output=30, cached=100, reasoning=12))
    raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    completion = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["openai-processing-ms"]) > 0
    assert raw.headers["content-type"] == "application/json"
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.system_fingerprint and completion.system_fingerprint.startswith("fp_")
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason, choice.logprobs) == (DEFAULT_TEXT, "stop", None)
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        120,
        30,
        150,
    )
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 100
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 12
    sent = fake_openai.requests[-1]
    assert sent.header("Authorization") == f"Bearer {fake_openai.keys[0]}"
    assert sent.path == "/v1/chat/completions" and sent.json["messages"] == USER


async def test_stream_with_include_usage_ends_with_usage_chunk_then_done(
    fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.script.reply(text="one two three four", chunks=4, tokens=Tokens(input=5, output=4))
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 4)
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_wire_framing(fake_openai: OpenAIFake) -> None:
    body = {"model": "gpt-4o-mini", "messages": USER, "stream": True}
    status, headers, raw = await raw_post(fake_openai, "/v1/chat/completions", body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: {") and "\n" not in e for e in events[:-2])
    assert all(p["object"] == "chat.completion.chunk" and "usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


async def test_tool_calls_non_stream_and_stream(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    call = ToolCall("get_weather", {"city": "Paris"}, id="call_abc")
    fake_openai.script.reply(tool_calls=[call]).reply(tool_calls=[call], chunks=3)
    whole = await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=WEATHER_TOOL)
    made = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls" and whole.choices[0].message.content is None
    assert made and made[0].type == "function" and made[0].id == "call_abc"
    assert made[0].function.name == "get_weather" and json.loads(made[0].function.arguments) == {
        "city": "Paris"
    }
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=USER, tools=WEATHER_TOOL, stream=True
    )
    deltas = [c.choices[0].delta.tool_calls for c in [c async for c in stream] if c.choices]
    fragments = [tc for group in deltas if group for tc in group]
    assert (
        fragments[0].id == "call_abc"
        and fragments[0].function
        and fragments[0].function.name == "get_weather"
    )
    pieces = [f.function.arguments for f in fragments[1:] if f.function and f.function.arguments]
    assert len(pieces) == 3 and json.loads("".join(pieces)) == {"city": "Paris"}


async def test_scripted_tool_calls_need_declared_tools(
    fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI
) -> None:
    fake_openai.script.reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content == DEFAULT_TEXT


async def test_embeddings_base64_by_default_and_float_on_request(
    fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI
) -> None:
    default = await sdk.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert fake_openai.requests[-1].json["encoding_format"] == "base64"
    assert [d.index for d in default.data] == [0, 1] and len(default.data[0].embedding) == 1536
    assert math.isclose(sum(v * v for v in default.data[0].embedding), 1.0, rel_tol=1e-4)
    floats = await sdk.embeddings.create(
        model="text-embedding-3-small", input="alpha", encoding_format="float", dimensions=8
    )
    assert len(floats.data[0].embedding) == 8
    again = await sdk.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=8)
    assert again.data[0].embedding == floats.data[0].embedding
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0


async def test_legacy_completions(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello")
    assert whole.object == "text_completion" and whole.choices[0].text == DEFAULT_TEXT
    stream = await sdk.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="Say hello",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == DEFAULT_TEXT
    assert chunks[-1].usage is not None and chunks[-1].choices == []


async def test_responses_api_json_and_stream(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    fake_openai.script.reply(tokens=Tokens(input=9, output=7, cached=3, reasoning=2))
    response = await sdk.responses.create(model="gpt-4o-mini", input="Say hello.")
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == DEFAULT_TEXT and response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (
        9,
        7,
        16,
    )
    assert response.usage.input_tokens_details.cached_tokens == 3
    async with sdk.responses.stream(model="gpt-4o-mini", input="Say hello.") as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3 and final.output_text == DEFAULT_TEXT


async def test_responses_function_call_stream(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    fake_openai.script.reply(tool_calls=[ToolCall("get_weather", {"city": "Oslo"})])
    tools: Any = [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
    ]
    async with sdk.responses.stream(model="gpt-4o-mini", input="Weather?", tools=tools) as stream:
        final = await stream.get_final_response()
    item = final.output[0]
    assert item.type == "function_call" and item.name == "get_weather"
    assert json.loads(item.arguments) == {"city": "Oslo"}


async def test_models_list_and_retrieve(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    ids = [model.id async for model in sdk.models.list()]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
    assert (await sdk.models.retrieve("gpt-4o")).owned_by == "system"
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.models.retrieve("gpt-9")
    assert caught.value.code == "model_not_found"


async def test_bad_key_is_authentication_error_with_masked_key(fake_openai: OpenAIFake) -> None:
    async with client(fake_openai, key="sk-wrong-key-123456") as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.code == "invalid_api_key" and caught.value.type == "invalid_request_error"
    assert "provided: sk-" + "*" * 12 + "3456." in caught.value.message


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_scripted_status_raises_the_sdk_class(
    fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI, status: int, error_class: type[openai.APIStatusError]
) -> None:
    fake_openai.script.fail(status, retry_after="7", error_message="scripted")
    with pytest.raises(error_class) as caught:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert caught.value.status_code == status and caught.value.message.endswith("scripted")
    assert caught.value.response.headers["retry-after"] == "7"


async def test_validation_matches_the_real_api(fake_openai: OpenAIFake) -> None:
    no_model = await raw_post(fake_openai, "/v1/chat/completions", {"messages": USER})
    assert (
        no_model[0] == 400
        and json.loads(no_model[2])["error"]["message"] == "you must provide a model parameter"
    )
    no_messages = json.loads((await raw_post(fake_openai, "/v1/chat/completions", {"model": "gpt-4o"}))[2])
    assert no_messages["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
    options = await raw_post(
        fake_openai,
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": USER, "stream_options": {"include_usage": True}},
    )
    assert options[0] == 400 and json.loads(options[2])["error"]["param"] == "stream_options"
    reasoning = await raw_post(
        fake_openai, "/v1/chat/completions", {"model": "o3-mini", "messages": USER, "max_tokens": 10}
    )
    assert reasoning[0] == 400 and json.loads(reasoning[2])["error"]["code"] == "unsupported_parameter"
    wrong_kind = await raw_post(fake_openai, "/v1/completions", {"model": "gpt-4o", "prompt": "x"})
    assert wrong_kind[0] == 404
    unknown = await raw_post(fake_openai, "/v1/files", {})
    assert unknown[0] == 404 and json.loads(unknown[2])["error"]["message"] == "Invalid URL (POST /v1/files)"


async def test_tool_messages_must_answer_tool_calls(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]
    dangling: Any = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="gpt-4o", messages=dangling, tools=WEATHER_TOOL)
    assert "did not have response messages: call_1" in caught.value.message
    orphan: Any = [*USER, {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}]
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="gpt-4o", messages=orphan)
    answered: Any = [*dangling[:2], {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    done = await sdk.chat.completions.create(model="gpt-4o", messages=answered, tools=WEATHER_TOOL)
    assert done.choices[0].message.content == DEFAULT_TEXT


async def test_mid_stream_error_raises_api_error(fake_openai: OpenAIFake, sdk: openai.AsyncOpenAI) -> None:
    fake_openai.script.reply(error_event_after=2)
    stream = await sdk.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    seen = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            seen.append(chunk)
    assert len(seen) == 2 and "The server had an error" in caught.value.message
