"""The official anthropic SDK through the gateway to OpenAI and Gemini channels (translated both ways).

Each test checks what the fake upstream received in its own protocol, what the SDK parsed, and the
ledger row: tokens as the fake reported them, the quota worked out by hand from the harness prices
(quota = ceil(sum of tokens x USD per 1M / 1e6 x 500000) = ceil(sum / 2)), the channel and upstream model.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from tests.e2e.cross_env import (
    GEMINI,
    GEMINI_ALIAS,
    GPT,
    GPT_ALIAS,
    PNG_B64,
    REASONER,
    TIME_SCHEMA,
    WEATHER_SCHEMA,
    Env,
    cross_env,  # noqa: F401  (the `env` fixture)
    dropped,
    usage_of,
)
from tests.fakes import Tokens, ToolCall

TOOLS: Any = [{"name": "get_weather", "description": "Weather in a city", "input_schema": WEATHER_SCHEMA},
              {"name": "get_time", "description": "Local time", "input_schema": TIME_SCHEMA}]
CALLS = [ToolCall("get_weather", {"city": "Paris", "unit": "c"}, id="call_WeatherParis0000000000"),
         ToolCall("get_time", {"zone": "Europe/Paris"}, id="call_TimeParis000000000000000")]
SYSTEM = "You answer in one short sentence."
QUESTION = "What is the weather and the time in Paris?"
ANSWERS = {"get_weather": '{"temperature": 18, "sky": "clear"}', "get_time": "14:05"}


async def ask(env: Env, model: str, messages: Any, *, stream: bool, fragments: int = 3, **extra: Any) -> Any:
    """One messages call; the final Message whether streamed or not. A streamed call is read event by
    event with the SDK's stream helper; each tool_use block's input must come in at least `fragments`
    input_json_delta events (the OpenAI fake splits arguments over `chunks` deltas; Gemini sends each
    call whole)."""
    client = env.claude()
    extra.setdefault("max_tokens", 1024)
    if not stream:
        return await client.messages.create(model=model, messages=messages, **extra)
    pieces: dict[int, int] = {}
    async with client.messages.stream(model=model, messages=messages, **extra) as events:
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                pieces[event.index] = pieces.get(event.index, 0) + bool(event.delta.partial_json)
        message = await events.get_final_message()
    uses = [i for i, block in enumerate(message.content) if block.type == "tool_use"]
    assert all(pieces.get(i, 0) >= fragments for i in uses), pieces
    return message


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def calls_of(message: Any) -> list[tuple[str, str, Any]]:
    return [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]


def follow_up(first: list[Any], message: Any) -> list[Any]:
    """The conversation with the model's tool calls and the caller's results for them appended."""
    uses = [b for b in message.content if b.type == "tool_use"]
    return [*first,
            {"role": "assistant", "content": [{"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
                                              for b in uses]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": ANSWERS[b.name]}
                                         for b in uses]}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_openai_with_two_parallel_calls(env: Env, stream: bool) -> None:
    env.oa.script.reply(tool_calls=CALLS, chunks=8, tokens=Tokens(input=120, output=40, cached=30))
    env.oa.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=4, tokens=Tokens(input=210, output=14))
    first = [{"role": "user", "content": QUESTION}]
    message = await ask(env, GPT_ALIAS, first, stream=stream, system=SYSTEM, tools=TOOLS)
    assert (text_of(message), message.stop_reason, message.model) == ("", "tool_use", GPT_ALIAS)
    assert calls_of(message) == [(CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
                                 (CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    # OpenAI's prompt_tokens include the 30 cached; Anthropic's input_tokens do not
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (90, 30, 40)
    sent = env.oa.requests[0].json
    assert sent["model"] == GPT and sent.get("stream", False) is stream
    assert sent["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    assert [t["function"] for t in sent["tools"]] == [
        {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_SCHEMA},
        {"name": "get_time", "description": "Local time", "parameters": TIME_SCHEMA}]
    assert sent["max_completion_tokens"] == 1024
    if stream:
        assert sent["stream_options"] == {"include_usage": True}

    second = follow_up(first, message)
    message = await ask(env, GPT_ALIAS, second, stream=stream, system=SYSTEM, tools=TOOLS)
    assert (text_of(message), message.stop_reason) == ("Clear, 18 C, and it is 14:05.", "end_turn")
    sent_messages = env.oa.requests[1].json["messages"]  # the fake refuses unanswered tool calls
    assert [m["role"] for m in sent_messages] == ["system", "user", "assistant", "tool", "tool"]
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in sent_messages[2]["tool_calls"]] == [(CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
                                                         (CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    assert [(m["tool_call_id"], m["content"]) for m in sent_messages[3:]] == [
        (CALLS[0].id, '{"temperature": 18, "sky": "clear"}'), (CALLS[1].id, "14:05")]

    one, two = await env.books()
    # 90*0.15 + 30*0.075 + 40*0.60 = 39.75 -> 19.875 -> 20;  210*0.15 + 14*0.60 = 39.9 -> 19.95 -> 20
    assert usage_of(one) == ("oa", GPT, 90, 30, 40, 0, 20)
    assert usage_of(two) == ("oa", GPT, 210, 0, 14, 0, 20)
    assert (one.model, one.protocol, one.stream, one.outcome) == (GPT_ALIAS, "anthropic", stream, "ok")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_gemini_with_two_parallel_calls(env: Env, stream: bool) -> None:
    env.ge.script.reply(tool_calls=CALLS, tokens=Tokens(input=90, output=22, cached=10))
    env.ge.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=3, tokens=Tokens(input=160, output=12))
    first = [{"role": "user", "content": QUESTION}]
    message = await ask(env, GEMINI_ALIAS, first, stream=stream, fragments=1, system=SYSTEM, tools=TOOLS)
    assert (text_of(message), message.stop_reason) == ("", "tool_use")
    calls = calls_of(message)
    assert [(name, args) for _, name, args in calls] == [("get_weather", {"city": "Paris", "unit": "c"}),
                                                         ("get_time", {"zone": "Europe/Paris"})]
    assert len({call_id for call_id, _, _ in calls}) == 2  # Gemini sends no ids: the gateway makes them
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (80, 10, 22)
    sent = env.ge.requests[0]
    assert sent.path == f"/v1beta/models/{GEMINI}:{'streamGenerateContent' if stream else 'generateContent'}"
    assert sent.json["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert sent.json["contents"] == [{"role": "user", "parts": [{"text": QUESTION}]}]
    assert [d["name"] for d in sent.json["tools"][0]["functionDeclarations"]] == ["get_weather", "get_time"]
    assert sent.json["generationConfig"]["maxOutputTokens"] == 1024

    message = await ask(env, GEMINI_ALIAS, follow_up(first, message), stream=stream, system=SYSTEM, tools=TOOLS)
    assert (text_of(message), message.stop_reason) == ("Clear, 18 C, and it is 14:05.", "end_turn")
    contents = env.ge.requests[1].json["contents"]  # the fake refuses unmatched functionResponse turns
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["functionCall"] for p in contents[1]["parts"]] == [
        {"id": calls[0][0], "name": "get_weather", "args": {"city": "Paris", "unit": "c"}},
        {"id": calls[1][0], "name": "get_time", "args": {"zone": "Europe/Paris"}}]
    assert [p["functionResponse"] for p in contents[2]["parts"]] == [
        {"id": calls[0][0], "name": "get_weather", "response": {"temperature": 18, "sky": "clear"}},
        {"id": calls[1][0], "name": "get_time", "response": {"output": "14:05"}}]

    one, two = await env.books()
    # 80*1.25 + 10*0.31 + 22*10 = 323.1 -> 161.55 -> 162;  160*1.25 + 12*10 = 320 -> 160
    assert usage_of(one) == ("ge", GEMINI, 80, 10, 22, 0, 162)
    assert usage_of(two) == ("ge", GEMINI, 160, 0, 12, 0, 160)
    assert (one.model, one.protocol, two.stream) == (GEMINI_ALIAS, "anthropic", stream)


async def test_images_reach_openai_and_gemini_in_their_shape(env: Env) -> None:
    content: Any = [{"type": "text", "text": "Describe both."},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]
    messages = [{"role": "user", "content": content}]
    env.oa.script.reply(text="A dot and a cat.", tokens=Tokens(input=900, output=20))
    env.ge.script.reply(text="A dot and a cat.", tokens=Tokens(input=600, output=20))
    await env.claude().messages.create(model=GPT, system=SYSTEM, messages=messages, max_tokens=64)
    await env.claude().messages.create(model=GEMINI, system=SYSTEM, messages=messages, max_tokens=64)
    assert env.oa.requests[-1].json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [
            {"type": "text", "text": "Describe both."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]
    gemini_body = env.ge.requests[-1].json
    assert gemini_body["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert gemini_body["contents"] == [{"role": "user", "parts": [
        {"text": "Describe both."},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}]}]
    one, two = await env.books()
    # 900*0.15 + 20*0.60 = 147 -> 73.5 -> 74;  600*1.25 + 20*10 = 950 -> 475
    assert (usage_of(one), usage_of(two)) == (("oa", GPT, 900, 0, 20, 0, 74), ("ge", GEMINI, 600, 0, 20, 0, 475))


@pytest.mark.parametrize(("target", "upstream_reason"), [(GPT, "length"), (GEMINI, "MAX_TOKENS")])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_length_stop_is_max_tokens(env: Env, target: str, upstream_reason: str, stream: bool) -> None:
    fake = env.oa if target == GPT else env.ge
    fake.script.reply(text="Once upon a time there", finish_reason=upstream_reason, tokens=Tokens(input=12, output=5))
    message = await ask(env, target, [{"role": "user", "content": "Tell a story"}], stream=stream, max_tokens=5)
    assert (text_of(message), message.stop_reason) == ("Once upon a time there", "max_tokens")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 5)
    [row] = await env.books()
    # gpt: 12*0.15 + 5*0.60 = 4.8 -> 2.4 -> 3;  gemini: 12*1.25 + 5*10 = 65 -> 32.5 -> 33
    assert usage_of(row) == (("oa", GPT, 12, 0, 5, 0, 3) if target == GPT else ("ge", GEMINI, 12, 0, 5, 0, 33))


@pytest.mark.parametrize("target", [GPT, GEMINI])
async def test_upstream_400_is_an_anthropic_bad_request(env: Env, target: str) -> None:
    fake = env.oa if target == GPT else env.ge
    fake.script.fail(400, error_message="Invalid 'messages[1].content': this request is malformed")
    with pytest.raises(anthropic.BadRequestError) as caught:
        await env.claude().messages.create(model=target, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 400
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "this request is malformed" in caught.value.message
    [row] = await env.books()
    assert (row.channel, row.status, row.outcome, row.quota) == ("oa" if target == GPT else "ge", 400, "error", 0)


@pytest.mark.parametrize(("target", "error_type"), [(GPT, "api_error"), (GEMINI, "overloaded_error")])
async def test_mid_stream_error_is_an_anthropic_error_event(env: Env, target: str, error_type: str) -> None:
    fake = env.oa if target == GPT else env.ge
    # OpenAI frames: the role chunk, then one per text piece; Gemini: one text piece per frame
    fake.script.reply(text="1111222233334444", chunks=4, error_event_after=3 if target == GPT else 2,
                      tokens=Tokens(input=30, output=8))
    got = ""
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with env.claude().messages.stream(model=target, max_tokens=64,
                                                messages=[{"role": "user", "content": "Go"}]) as events:
            async for event in events:
                if event.type == "text":
                    got += event.text
    assert got == "11112222"
    assert caught.value.body["error"]["type"] == error_type  # type: ignore[index]
    [row] = await env.books()
    assert (row.outcome, row.stream) == ("error", True)
    # What was relayed is billed: 8 bytes -> 3 tokens (ceil(bytes / 3)). Gemini's cumulative count is 4 after
    # two of four chunks and wins: 30*1.25 + 4*10 = 77.5 -> 38.75 -> 39. OpenAI sends usage only at the end,
    # so the prompt is the gateway's estimate of the SDK's body {"max_tokens":64,"messages":[{"role":"user",
    # "content":"Go"}],"model":"gpt-4o-mini","stream":true}: ceil(57 bytes of keys and strings / 3) = 19,
    # + 4 per message + 3 = 26 tokens: 26*0.15 + 3*0.60 = 5.7 -> 2.85 -> 3
    if target == GEMINI:
        assert usage_of(row) == ("ge", GEMINI, 30, 0, 4, 0, 39)
    else:
        assert usage_of(row) == ("oa", GPT, 26, 0, 3, 0, 3) and row.usage_estimated


@pytest.mark.parametrize("target", [GPT, GEMINI])
async def test_fields_that_cannot_be_carried_are_named_in_x_gateway_dropped(env: Env, target: str) -> None:
    fake = env.oa if target == GPT else env.ge
    fake.script.reply(text="Hello.", tokens=Tokens(input=8, output=2))
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": "Hi",
                                                   "cache_control": {"type": "ephemeral"}}]}]
    raw = await env.claude().messages.with_raw_response.create(model=target, max_tokens=32, messages=messages,
                                                               extra_body={"top_k": 5})
    names = dropped(raw.headers)
    if target == GPT:
        assert names == {"messages.content.cache_control", "top_k"} and "top_k" not in fake.requests[-1].json
    else:
        assert names == {"messages.content.cache_control"}
        assert fake.requests[-1].json["generationConfig"]["topK"] == 5  # Gemini has top_k
    assert "cache_control" not in json.dumps(fake.requests[-1].json)
    assert text_of(await raw.parse()) == "Hello."
    [row] = await env.books()
    # gpt: 8*0.15 + 2*0.60 = 2.4 -> 1.2 -> 2;  gemini: 8*1.25 + 2*10 = 30 -> 15
    assert usage_of(row) == (("oa", GPT, 8, 0, 2, 0, 2) if target == GPT else ("ge", GEMINI, 8, 0, 2, 0, 15))


async def test_thinking_budget_becomes_openai_reasoning_effort_and_reasoning_tokens_are_billed(env: Env) -> None:
    env.oa.script.reply(text="42", tokens=Tokens(input=25, output=310, reasoning=300))
    message = await env.claude().messages.create(
        model=REASONER, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "6 x 7?"}])
    sent = env.oa.requests[-1].json
    assert (sent["reasoning_effort"], sent["max_completion_tokens"]) == ("medium", 4000)
    assert text_of(message) == "42" and message.usage.output_tokens == 310
    [row] = await env.books()
    # o4-mini has no price of its own: the "*" entry, input 1.0 and output 2.0: 25 + 310*2 = 645 -> 322.5 -> 323
    assert usage_of(row) == ("oa", REASONER, 25, 0, 310, 300, 323)


async def test_thinking_streams_from_gemini_as_thinking_blocks_and_is_billed(env: Env) -> None:
    env.ge.script.reply(thinking="Multiply six by seven.", text="42", chunks=2,
                        tokens=Tokens(input=20, output=2, reasoning=150))
    message = await ask(env, GEMINI, [{"role": "user", "content": "6 x 7?"}], stream=True, max_tokens=4000,
                        thinking={"type": "enabled", "budget_tokens": 2048})
    config = env.ge.requests[-1].json["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 2048, "includeThoughts": True}
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert (message.content[0].thinking, text_of(message)) == ("Multiply six by seven.", "42")
    assert message.usage.output_tokens == 152  # Anthropic's output_tokens include the thinking
    [row] = await env.books()
    # 20*1.25 + 152*10 = 1545 -> 772.5 -> 773
    assert usage_of(row) == ("ge", GEMINI, 20, 0, 152, 150, 773)
