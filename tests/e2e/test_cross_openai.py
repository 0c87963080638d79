"""The official openai SDK through the gateway to Anthropic and Gemini channels (translated both ways).

Each test checks what the fake upstream received in its own protocol, what the SDK parsed, and the
ledger row: tokens as the fake reported them, the quota worked out by hand from the harness prices
(quota = ceil(sum of tokens x USD per 1M / 1e6 x 500000) = ceil(sum / 2)), the channel and upstream model.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

from tests.e2e.cross_env import (
    CLAUDE,
    CLAUDE_ALIAS,
    GEMINI,
    GEMINI_ALIAS,
    GEMINI_EMBEDDER,
    PNG_B64,
    TIME_SCHEMA,
    WEATHER_SCHEMA,
    Env,
    cross_env,  # noqa: F401  (the `env` fixture)
    dropped,
    usage_of,
)
from tests.fakes import Tokens, ToolCall
from tests.fakes.script import embedding_vector

TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                      "parameters": WEATHER_SCHEMA}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time", "parameters": TIME_SCHEMA}},
]
CALLS = [ToolCall("get_weather", {"city": "Paris", "unit": "c"}, id="toolu_01WeatherParis000000000"),
         ToolCall("get_time", {"zone": "Europe/Paris"}, id="toolu_01TimeParis00000000000000")]
SYSTEM = "You answer in one short sentence."
QUESTION = "What is the weather and the time in Paris?"


async def ask(env: Env, model: str, messages: Any, *, stream: bool, fragments: int = 3, **extra: Any
              ) -> tuple[str, list[dict[str, Any]], str | None, Any]:
    """One chat call; (text, tool calls as plain dicts, finish reason, usage) whether streamed or not.
    Streamed tool-call arguments are assembled from their fragments, and each call must come in at
    least `fragments` of them (the Anthropic fake splits arguments over `chunks` deltas; Gemini sends
    each call whole, so the caller gets it in one)."""
    client = env.openai()
    if not stream:
        result = await client.chat.completions.create(model=model, messages=messages, **extra)
        message = result.choices[0].message
        calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
                 for c in message.tool_calls or []]
        return message.content or "", calls, result.choices[0].finish_reason, result.usage
    chunks = [c async for c in await client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **extra)]
    text, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    pieces: dict[int, int] = {}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
                    pieces[delta.index] = pieces.get(delta.index, 0) + bool(delta.function.arguments)
    assert chunks[-1].usage is not None and chunks[-1].choices == []  # the usage chunk closes the stream
    assert all(count >= fragments for count in pieces.values()), pieces
    return text, [calls[i] for i in sorted(calls)], finish, usage


def tool_answers(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers = {"get_weather": '{"temperature": 18, "sky": "clear"}', "get_time": "14:05"}
    return [{"role": "tool", "tool_call_id": c["id"], "content": answers[c["name"]]} for c in calls]


def assistant_turn(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls]}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_anthropic_with_two_parallel_calls(env: Env, stream: bool) -> None:
    env.an.script.reply(tool_calls=CALLS, chunks=8, tokens=Tokens(input=120, output=40, cached=30))
    env.an.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=4, tokens=Tokens(input=210, output=14))
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    text, calls, finish, usage = await ask(env, CLAUDE_ALIAS, first, stream=stream, tools=TOOLS)
    assert (text, finish) == ("", "tool_calls")
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        (CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
        (CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    # Anthropic's input_tokens exclude the 30 cache reads; OpenAI's prompt_tokens include them
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens) == (150, 30, 40)
    sent = env.an.requests[0].json
    assert sent["model"] == CLAUDE and sent.get("stream", False) is stream
    assert (sent["system"], sent["messages"]) == (SYSTEM, [{"role": "user", "content": QUESTION}])
    assert [(t["name"], t["input_schema"]) for t in sent["tools"]] == [("get_weather", WEATHER_SCHEMA),
                                                                      ("get_time", TIME_SCHEMA)]
    assert sent["max_tokens"] == 4096  # Anthropic requires one; the caller gave none: billing.hold_output_tokens

    second = [*first, assistant_turn(calls), *tool_answers(calls)]
    text, calls_after, finish, usage = await ask(env, CLAUDE_ALIAS, second, stream=stream, tools=TOOLS)
    assert (text, calls_after, finish) == ("Clear, 18 C, and it is 14:05.", [], "stop")
    messages = env.an.requests[1].json["messages"]  # the fake refuses unpaired tool_use / tool_result
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [(b["type"], b["id"], b["input"]) for b in messages[1]["content"]] == [
        ("tool_use", CALLS[0].id, {"city": "Paris", "unit": "c"}),
        ("tool_use", CALLS[1].id, {"zone": "Europe/Paris"})]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": CALLS[0].id, "content": '{"temperature": 18, "sky": "clear"}'},
        {"type": "tool_result", "tool_use_id": CALLS[1].id, "content": "14:05"}]

    one, two = await env.books()
    # 120*3 + 30*0.30 + 40*15 = 969 -> 484.5 -> 485;  210*3 + 14*15 = 840 -> 420
    assert usage_of(one) == ("an", CLAUDE, 120, 30, 40, 0, 485)
    assert usage_of(two) == ("an", CLAUDE, 210, 0, 14, 0, 420)
    assert (one.model, one.protocol, one.stream, one.outcome) == (CLAUDE_ALIAS, "openai", stream, "ok")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_gemini_with_two_parallel_calls(env: Env, stream: bool) -> None:
    # a thinking model: its first functionCall part carries a thoughtSignature it wants back next turn
    env.ge.script.reply(tool_calls=CALLS, thinking="Two lookups.", tokens=Tokens(input=90, output=22, cached=10))
    env.ge.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=3, tokens=Tokens(input=160, output=12))
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    text, calls, finish, usage = await ask(env, GEMINI_ALIAS, first, stream=stream, fragments=1, tools=TOOLS)
    assert (text, finish) == ("", "tool_calls")
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Paris", "unit": "c"}), ("get_time", {"zone": "Europe/Paris"})]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"] for c in calls)  # Gemini sends no ids
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.completion_tokens) == (90, 10, 22)
    sent = env.ge.requests[0]
    assert sent.path == f"/v1beta/models/{GEMINI}:{'streamGenerateContent' if stream else 'generateContent'}"
    assert sent.json["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert sent.json["contents"] == [{"role": "user", "parts": [{"text": QUESTION}]}]
    declared = sent.json["tools"][0]["functionDeclarations"]
    assert [(d["name"], d["parameters"]["type"], d["parameters"]["required"]) for d in declared] == [
        ("get_weather", "OBJECT", ["city"]), ("get_time", "OBJECT", ["zone"])]

    second = [*first, assistant_turn(calls), *tool_answers(calls)]
    text, _, finish, usage = await ask(env, GEMINI_ALIAS, second, stream=stream, tools=TOOLS)
    assert (text, finish) == ("Clear, 18 C, and it is 14:05.", "stop")
    contents = env.ge.requests[1].json["contents"]  # the fake refuses unmatched functionResponse turns
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    # the signature rode inside the first call's id (`<id>__gsig__<base64url>`) and goes back where it was
    first_id, _, carried = calls[0]["id"].partition("__gsig__")
    signature = base64.urlsafe_b64decode(carried + "=" * (-len(carried) % 4)).decode()
    assert contents[1]["parts"] == [
        {"functionCall": {"id": first_id, "name": "get_weather", "args": {"city": "Paris", "unit": "c"}},
         "thoughtSignature": signature},
        {"functionCall": {"id": calls[1]["id"], "name": "get_time", "args": {"zone": "Europe/Paris"}}}]
    assert len(signature) == 64  # what the fake signs with
    answers = [p["functionResponse"] for p in contents[2]["parts"]]
    assert answers == [
        {"id": first_id, "name": "get_weather", "response": {"temperature": 18, "sky": "clear"}},
        {"id": calls[1]["id"], "name": "get_time", "response": {"output": "14:05"}}]

    one, two = await env.books()
    # Gemini's promptTokenCount includes the 10 cached: 80*1.25 + 10*0.31 + 22*10 = 323.1 -> 161.55 -> 162
    assert usage_of(one) == ("ge", GEMINI, 80, 10, 22, 0, 162)
    # 160*1.25 + 12*10 = 320 -> 160
    assert usage_of(two) == ("ge", GEMINI, 160, 0, 12, 0, 160)
    assert (one.model, one.stream, two.stream) == (GEMINI_ALIAS, stream, stream)


async def test_images_reach_anthropic_and_gemini_in_their_shape(env: Env) -> None:
    content: Any = [{"type": "text", "text": "Describe both."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    messages = [{"role": "developer", "content": SYSTEM}, {"role": "user", "content": content}]
    env.an.script.reply(text="A dot and a cat.", tokens=Tokens(input=1700, output=20))
    env.ge.script.reply(text="A dot and a cat.", tokens=Tokens(input=600, output=20))
    await env.openai().chat.completions.create(model=CLAUDE, messages=messages, max_tokens=64)
    await env.openai().chat.completions.create(model=GEMINI, messages=messages, max_tokens=64)
    anthropic_body, gemini_body = env.an.requests[-1].json, env.ge.requests[-1].json
    assert anthropic_body["system"] == SYSTEM
    assert anthropic_body["max_tokens"] == 64
    assert anthropic_body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Describe both."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]
    assert gemini_body["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert gemini_body["generationConfig"]["maxOutputTokens"] == 64
    assert gemini_body["contents"] == [{"role": "user", "parts": [
        {"text": "Describe both."},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}]}]
    one, two = await env.books()
    # 1700*3 + 20*15 = 5400 -> 2700;  600*1.25 + 20*10 = 950 -> 475
    assert (usage_of(one), usage_of(two)) == (("an", CLAUDE, 1700, 0, 20, 0, 2700), ("ge", GEMINI, 600, 0, 20, 0, 475))


@pytest.mark.parametrize(("target", "upstream_reason"), [(CLAUDE, "max_tokens"), (GEMINI, "MAX_TOKENS")])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_max_tokens_stop_is_length(env: Env, target: str, upstream_reason: str, stream: bool) -> None:
    fake = env.an if target == CLAUDE else env.ge
    fake.script.reply(text="Once upon a time there", finish_reason=upstream_reason, tokens=Tokens(input=12, output=5))
    text, _, finish, usage = await ask(env, target, [{"role": "user", "content": "Tell a story"}], stream=stream,
                                       max_completion_tokens=5)
    assert (text, finish) == ("Once upon a time there", "length")
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 5)
    [row] = await env.books()
    # claude: 12*3 + 5*15 = 111 -> 55.5 -> 56;  gemini: 12*1.25 + 5*10 = 65 -> 32.5 -> 33
    assert usage_of(row) == (("an", CLAUDE, 12, 0, 5, 0, 56) if target == CLAUDE
                             else ("ge", GEMINI, 12, 0, 5, 0, 33))


@pytest.mark.parametrize("target", [CLAUDE, GEMINI])
async def test_upstream_400_is_an_openai_bad_request(env: Env, target: str) -> None:
    fake = env.an if target == CLAUDE else env.ge
    fake.script.fail(400, error_message="messages.0.content: this request is malformed")
    with pytest.raises(openai.BadRequestError) as caught:
        await env.openai().chat.completions.create(model=target, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert "this request is malformed" in caught.value.message
    [row] = await env.books()
    assert (row.channel, row.status, row.outcome, row.quota) == ("an" if target == CLAUDE else "ge", 400, "error", 0)


@pytest.mark.parametrize("target", [CLAUDE, GEMINI])
async def test_mid_stream_overload_raises_in_the_sdk_after_the_text_so_far(env: Env, target: str) -> None:
    fake = env.an if target == CLAUDE else env.ge
    # Anthropic frames: message_start, block start, ping, deltas...; Gemini: one text piece per frame
    fake.script.reply(text="1111222233334444", chunks=4, error_event_after=5 if target == CLAUDE else 2,
                      tokens=Tokens(input=30, output=8))
    got = ""
    stream = await env.openai().chat.completions.create(model=target, messages=[{"role": "user", "content": "Go"}],
                                                        stream=True)
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            got += "".join(c.delta.content or "" for c in chunk.choices)
    assert got == "11112222"
    assert "overloaded" in caught.value.message.lower()
    [row] = await env.books()
    assert (row.outcome, row.stream, row.channel) == ("error", True, "an" if target == CLAUDE else "ge")
    # what was relayed is billed: 8 bytes of text -> 3 tokens (ceil(bytes / 3)), unless the upstream's own
    # running count says more (Gemini's cumulative candidatesTokenCount is 4 after two of four chunks)
    # claude: 30*3 + 3*15 = 135 -> 67.5 -> 68;  gemini: 30*1.25 + 4*10 = 77.5 -> 38.75 -> 39
    assert usage_of(row) == (("an", CLAUDE, 30, 0, 3, 0, 68) if target == CLAUDE else ("ge", GEMINI, 30, 0, 4, 0, 39))


@pytest.mark.parametrize("target", [CLAUDE, GEMINI])
async def test_fields_that_cannot_be_carried_are_named_in_x_gateway_dropped(env: Env, target: str) -> None:
    fake = env.an if target == CLAUDE else env.ge
    fake.script.reply(text="Hello.", tokens=Tokens(input=8, output=2))
    raw = await env.openai().chat.completions.with_raw_response.create(
        model=target, messages=[{"role": "user", "content": "Hi"}], logit_bias={"1734": -100}, max_tokens=32)
    assert "logit_bias" in dropped(raw.headers)
    assert "logit_bias" not in fake.requests[-1].json
    assert raw.parse().choices[0].message.content == "Hello."
    [row] = await env.books()
    # claude: 8*3 + 2*15 = 54 -> 27;  gemini: 8*1.25 + 2*10 = 30 -> 15
    assert usage_of(row) == (("an", CLAUDE, 8, 0, 2, 0, 27) if target == CLAUDE else ("ge", GEMINI, 8, 0, 2, 0, 15))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_reasoning_effort_becomes_an_anthropic_thinking_budget(env: Env, stream: bool) -> None:
    thought = "The user wants a number. 6 times 7 is 42."
    env.an.script.reply(thinking=thought, text="42", chunks=3, tokens=Tokens(input=25, output=300))
    request: Any = {"model": CLAUDE, "messages": [{"role": "user", "content": "6 x 7?"}],
                    "reasoning_effort": "low", "max_completion_tokens": 4000}
    if stream:
        chunks = [c async for c in await env.openai().chat.completions.create(**request, stream=True)]
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        content = "".join(d.content or "" for d in deltas)
    else:
        message = (await env.openai().chat.completions.create(**request)).choices[0].message
        reasoning, content = (message.model_extra or {}).get("reasoning_content"), message.content
    sent = env.an.requests[-1].json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024} and sent["max_tokens"] == 4000
    assert (reasoning, content) == (thought, "42")  # OpenAI-compatible servers' place for thinking text
    [row] = await env.books()
    # Anthropic counts thinking inside output_tokens (no separate figure): 25*3 + 300*15 = 4575 -> 2288
    assert usage_of(row) == ("an", CLAUDE, 25, 0, 300, 0, 2288)


async def test_reasoning_effort_streams_thoughts_from_gemini_and_bills_them(env: Env) -> None:
    env.ge.script.reply(thinking="Multiply six by seven.", text="42", chunks=2,
                        tokens=Tokens(input=20, output=2, reasoning=150))
    chunks = [c async for c in await env.openai().chat.completions.create(
        model=GEMINI, messages=[{"role": "user", "content": "6 x 7?"}], reasoning_effort="medium", stream=True,
        stream_options={"include_usage": True})]
    config = env.ge.requests[-1].json["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 8192, "includeThoughts": True}
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == "Multiply six by seven."
    assert "".join(d.content or "" for d in deltas) == "42"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (152, 150)
    [row] = await env.books()
    # thoughts are output: 20*1.25 + 152*10 = 1545 -> 772.5 -> 773
    assert usage_of(row) == ("ge", GEMINI, 20, 0, 152, 150, 773)


async def test_embeddings_reach_gemini_as_batch_embed_contents(env: Env) -> None:
    result = await env.openai().embeddings.create(model=GEMINI_EMBEDDER, input=["first text", "second text"])
    sent = env.ge.requests[-1]
    assert sent.path == f"/v1beta/models/{GEMINI_EMBEDDER}:batchEmbedContents"
    assert sent.json == {"requests": [
        {"model": f"models/{GEMINI_EMBEDDER}", "content": {"parts": [{"text": "first text"}]}},
        {"model": f"models/{GEMINI_EMBEDDER}", "content": {"parts": [{"text": "second text"}]}}]}
    assert [d.index for d in result.data] == [0, 1] and result.model == GEMINI_EMBEDDER
    assert result.data[1].embedding == embedding_vector(json.dumps([{"text": "second text"}]), 768)
    assert result.usage.prompt_tokens == 0  # Gemini reports no embedding usage
    [row] = await env.books()
    assert (row.channel, row.upstream_model, row.endpoint, row.outcome) == ("ge", GEMINI_EMBEDDER, "embeddings", "ok")
    # so the row bills the estimate of what the SDK sent, {"input":[..2..],"model":..,"encoding_format":"base64"}:
    # ceil(70 bytes of strings and keys / 3) = 24, + 4 per input + 3 = 35 tokens at the "*" price 1.0 -> 17.5 -> 18
    assert (row.prompt_tokens, row.completion_tokens, row.quota, row.usage_estimated) == (35, 0, 18, True)
