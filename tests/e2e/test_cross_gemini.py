"""The official google-genai SDK through the gateway to OpenAI and Anthropic channels (translated both ways).

Each test checks what the fake upstream received in its own protocol, what the SDK parsed, and the
ledger row: tokens as the fake reported them, the quota worked out by hand from the harness prices
(quota = ceil(sum of tokens x USD per 1M / 1e6 x 500000) = ceil(sum / 2)), the channel and upstream model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import errors, types

from tests.e2e.cross_env import (
    CLAUDE,
    CLAUDE_ALIAS,
    GPT,
    GPT_ALIAS,
    OPENAI_EMBEDDER,
    PNG_B64,
    PNG_BYTES,
    REASONER,
    TIME_SCHEMA,
    WEATHER_SCHEMA,
    Env,
    cross_env,  # noqa: F401  (the `env` fixture)
    dropped,
    usage_of,
)
from tests.fakes import Tokens, ToolCall
from tests.fakes.script import embedding_vector

TOOLS = [types.Tool(function_declarations=[
    types.FunctionDeclaration(name="get_weather", description="Weather in a city",
                              parameters_json_schema=WEATHER_SCHEMA),
    types.FunctionDeclaration(name="get_time", description="Local time", parameters_json_schema=TIME_SCHEMA)])]
CALLS = [ToolCall("get_weather", {"city": "Paris", "unit": "c"}, id="call_WeatherParis0000000000"),
         ToolCall("get_time", {"zone": "Europe/Paris"}, id="toolu_01TimeParis00000000000000")]
SYSTEM = "You answer in one short sentence."
QUESTION = "What is the weather and the time in Paris?"
ANSWERS: dict[str, dict[str, Any]] = {"get_weather": {"temperature": 18, "sky": "clear"},
                                      "get_time": {"output": "14:05"}}


async def ask(env: Env, model: str, contents: Any, *, stream: bool, **config: Any
              ) -> tuple[str, list[types.FunctionCall], str | None, Any, types.Content]:
    """One generate call; (text, function calls, finish reason, usage metadata, the model's content
    to append to the history) whether streamed or not."""
    client = env.gemini()
    settings = types.GenerateContentConfig(**config)
    if not stream:
        result = await client.models.generate_content(model=model, contents=contents, config=settings)
        candidate = result.candidates[0]  # type: ignore[index]
        assert candidate.content is not None
        return (result.text or "", result.function_calls or [], candidate.finish_reason, result.usage_metadata,
                candidate.content)
    chunks = [c async for c in await client.models.generate_content_stream(model=model, contents=contents,
                                                                           config=settings)]
    parts: list[types.Part] = []
    for chunk in chunks:
        content = chunk.candidates[0].content if chunk.candidates else None
        parts += content.parts or [] if content is not None else []
    text = "".join(p.text or "" for p in parts if not p.thought)
    calls = [p.function_call for p in parts if p.function_call is not None]
    last = chunks[-1]
    finish = last.candidates[0].finish_reason if last.candidates else None
    return text, calls, finish, last.usage_metadata, types.Content(role="model", parts=parts)


def answers_for(calls: list[types.FunctionCall]) -> types.Content:
    """The caller's function results, as the SDK documents them: by name, without ids."""
    return types.Content(role="user", parts=[
        types.Part.from_function_response(name=c.name or "", response=ANSWERS[c.name or ""]) for c in calls])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_openai_with_two_parallel_calls(env: Env, stream: bool) -> None:
    env.oa.script.reply(tool_calls=CALLS, chunks=8, tokens=Tokens(input=120, output=40, cached=30))
    env.oa.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=4, tokens=Tokens(input=210, output=14))
    question = types.Content(role="user", parts=[types.Part(text=QUESTION)])
    text, calls, finish, usage, reply = await ask(env, GPT_ALIAS, [question], stream=stream,
                                                  system_instruction=SYSTEM, tools=TOOLS)
    assert (text, finish) == ("", types.FinishReason.STOP)  # Gemini ends a function-call turn with STOP
    assert [(c.id, c.name, c.args) for c in calls] == [(CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
                                                       (CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    # Gemini's promptTokenCount includes the cached tokens, as OpenAI's prompt_tokens do
    assert (usage.prompt_token_count, usage.cached_content_token_count, usage.candidates_token_count) == (120, 30, 40)
    sent = env.oa.requests[0].json
    assert sent["model"] == GPT and sent.get("stream", False) is stream
    assert sent["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_SCHEMA

    await ask(env, GPT_ALIAS, [question, reply, answers_for(calls)], stream=stream, system_instruction=SYSTEM,
              tools=TOOLS)
    messages = env.oa.requests[1].json["messages"]  # the fake refuses unanswered tool calls
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[2]["tool_calls"]] == [CALLS[0].id, CALLS[1].id]
    assert [(m["tool_call_id"], m["content"]) for m in messages[3:]] == [
        (CALLS[0].id, json.dumps(ANSWERS["get_weather"], separators=(",", ":"))), (CALLS[1].id, "14:05")]

    one, two = await env.books()
    # 90*0.15 + 30*0.075 + 40*0.60 = 39.75 -> 19.875 -> 20;  210*0.15 + 14*0.60 = 39.9 -> 19.95 -> 20
    assert usage_of(one) == ("oa", GPT, 90, 30, 40, 0, 20)
    assert usage_of(two) == ("oa", GPT, 210, 0, 14, 0, 20)
    assert (one.model, one.protocol, one.stream, two.outcome) == (GPT_ALIAS, "gemini", stream, "ok")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_round_trip_to_anthropic_with_two_parallel_calls(env: Env, stream: bool) -> None:
    env.an.script.reply(tool_calls=CALLS, chunks=8, tokens=Tokens(input=120, output=40, cached=30))
    env.an.script.reply(text="Clear, 18 C, and it is 14:05.", chunks=4, tokens=Tokens(input=210, output=14))
    question = types.Content(role="user", parts=[types.Part(text=QUESTION)])
    text, calls, finish, usage, reply = await ask(env, CLAUDE_ALIAS, [question], stream=stream,
                                                  system_instruction=SYSTEM, tools=TOOLS, max_output_tokens=512)
    assert (text, finish) == ("", types.FinishReason.STOP)
    assert [(c.id, c.name, c.args) for c in calls] == [(CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
                                                       (CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    # Anthropic's input_tokens exclude the 30 cache reads; Gemini's promptTokenCount includes them
    assert (usage.prompt_token_count, usage.cached_content_token_count, usage.candidates_token_count) == (150, 30, 40)
    sent = env.an.requests[0].json
    assert (sent["model"], sent["system"], sent["max_tokens"]) == (CLAUDE, SYSTEM, 512)
    assert sent["messages"] == [{"role": "user", "content": QUESTION}]
    assert [(t["name"], t["input_schema"]) for t in sent["tools"]] == [("get_weather", WEATHER_SCHEMA),
                                                                      ("get_time", TIME_SCHEMA)]

    text, _, finish, _, _ = await ask(env, CLAUDE_ALIAS, [question, reply, answers_for(calls)], stream=stream,
                                      system_instruction=SYSTEM, tools=TOOLS, max_output_tokens=512)
    assert (text, finish) == ("Clear, 18 C, and it is 14:05.", types.FinishReason.STOP)
    messages = env.an.requests[1].json["messages"]  # the fake refuses unpaired tool_use / tool_result
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [(b["type"], b["id"], b["name"], b["input"]) for b in messages[1]["content"]] == [
        ("tool_use", CALLS[0].id, "get_weather", {"city": "Paris", "unit": "c"}),
        ("tool_use", CALLS[1].id, "get_time", {"zone": "Europe/Paris"})]
    # answered by name (the SDK sends no ids back); a result object is carried as its JSON text, Gemini's
    # {"output": text} convention as the bare text
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": CALLS[0].id, "content": '{"temperature":18,"sky":"clear"}'},
        {"type": "tool_result", "tool_use_id": CALLS[1].id, "content": "14:05"}]

    one, two = await env.books()
    # 120*3 + 30*0.30 + 40*15 = 969 -> 484.5 -> 485;  210*3 + 14*15 = 840 -> 420
    assert usage_of(one) == ("an", CLAUDE, 120, 30, 40, 0, 485)
    assert usage_of(two) == ("an", CLAUDE, 210, 0, 14, 0, 420)
    assert (one.model, one.protocol, one.stream) == (CLAUDE_ALIAS, "gemini", stream)


async def test_images_reach_openai_and_anthropic_in_their_shape(env: Env) -> None:
    parts = [types.Part(text="Describe both."), types.Part.from_bytes(data=PNG_BYTES, mime_type="image/png"),
             types.Part.from_uri(file_uri="https://example.com/cat.jpg", mime_type="image/jpeg")]
    env.oa.script.reply(text="A dot and a cat.", tokens=Tokens(input=900, output=20))
    env.an.script.reply(text="A dot and a cat.", tokens=Tokens(input=1700, output=20))
    for model in (GPT, CLAUDE):
        await ask(env, model, [types.Content(role="user", parts=parts)], stream=False, system_instruction=SYSTEM,
                  max_output_tokens=64)
    assert env.oa.requests[-1].json["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [
            {"type": "text", "text": "Describe both."},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]
    anthropic_body = env.an.requests[-1].json
    assert (anthropic_body["system"], anthropic_body["max_tokens"]) == (SYSTEM, 64)
    assert anthropic_body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Describe both."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]
    one, two = await env.books()
    # 900*0.15 + 20*0.60 = 147 -> 73.5 -> 74;  1700*3 + 20*15 = 5400 -> 2700
    assert (usage_of(one), usage_of(two)) == (("oa", GPT, 900, 0, 20, 0, 74), ("an", CLAUDE, 1700, 0, 20, 0, 2700))


@pytest.mark.parametrize(("target", "upstream_reason"), [(GPT, "length"), (CLAUDE, "max_tokens")])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_length_stop_is_max_tokens(env: Env, target: str, upstream_reason: str, stream: bool) -> None:
    fake = env.oa if target == GPT else env.an
    fake.script.reply(text="Once upon a time there", finish_reason=upstream_reason, tokens=Tokens(input=12, output=5))
    text, _, finish, usage, _ = await ask(env, target, "Tell a story", stream=stream, max_output_tokens=5)
    assert (text, finish) == ("Once upon a time there", types.FinishReason.MAX_TOKENS)
    assert (usage.prompt_token_count, usage.candidates_token_count) == (12, 5)
    [row] = await env.books()
    # gpt: 12*0.15 + 5*0.60 = 4.8 -> 2.4 -> 3;  claude: 12*3 + 5*15 = 111 -> 55.5 -> 56
    assert usage_of(row) == (("oa", GPT, 12, 0, 5, 0, 3) if target == GPT else ("an", CLAUDE, 12, 0, 5, 0, 56))


@pytest.mark.parametrize("target", [GPT, CLAUDE])
async def test_upstream_400_is_a_gemini_invalid_argument(env: Env, target: str) -> None:
    fake = env.oa if target == GPT else env.an
    fake.script.fail(400, error_message="messages.0.content: this request is malformed")
    with pytest.raises(errors.ClientError) as caught:
        await env.gemini().models.generate_content(model=target, contents="Hi")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert "this request is malformed" in (caught.value.message or "")
    [row] = await env.books()
    assert (row.channel, row.status, row.outcome, row.quota) == ("oa" if target == GPT else "an", 400, "error", 0)


@pytest.mark.parametrize(("target", "code"), [(GPT, 500), (CLAUDE, 503)])
async def test_mid_stream_error_raises_in_the_sdk_after_the_text_so_far(env: Env, target: str, code: int) -> None:
    fake = env.oa if target == GPT else env.an
    # OpenAI frames: the role chunk, then one per text piece; Anthropic: message_start, block start, ping, deltas
    fake.script.reply(text="1111222233334444", chunks=4, error_event_after=3 if target == GPT else 5,
                      tokens=Tokens(input=30, output=8))
    got = ""
    with pytest.raises(errors.APIError) as caught:
        async for chunk in await env.gemini().models.generate_content_stream(model=target, contents="Go"):
            got += chunk.text or ""
    assert got == "11112222"
    assert caught.value.code == code  # Anthropic's overloaded (529) is 503 UNAVAILABLE to a Gemini caller
    [row] = await env.books()
    assert (row.outcome, row.stream) == ("error", True)
    if target == CLAUDE:  # 8 relayed bytes -> 3 tokens beat the 1 of message_start: 30*3 + 3*15 = 135 -> 68
        assert usage_of(row) == ("an", CLAUDE, 30, 0, 3, 0, 68)
    else:  # OpenAI sends usage only at the end: the prompt is the gateway's estimate of the SDK's body
        # {"contents":[{"parts":[{"text":"Go"}],"role":"user"}]}: ceil(27 bytes / 3) = 9, + 4 per content + 3 = 16;
        # 3 tokens relayed: 16*0.15 + 3*0.60 = 4.2 -> 2.1 -> 3
        assert usage_of(row) == ("oa", GPT, 16, 0, 3, 0, 3) and row.usage_estimated


@pytest.mark.parametrize("target", [GPT, CLAUDE])
async def test_fields_that_cannot_be_carried_are_named_in_x_gateway_dropped(env: Env, target: str) -> None:
    fake = env.oa if target == GPT else env.an
    fake.script.reply(text="Hello.", tokens=Tokens(input=8, output=2))
    settings = types.GenerateContentConfig(safety_settings=[types.SafetySetting(
        category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH, threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])
    result = await env.gemini().models.generate_content(model=target, contents="Hi", config=settings)
    assert result.sdk_http_response is not None and result.sdk_http_response.headers is not None
    assert "safetySettings" in dropped(result.sdk_http_response.headers)
    assert "safety" not in json.dumps(fake.requests[-1].json).lower()
    assert result.text == "Hello."
    [row] = await env.books()
    # gpt: 8*0.15 + 2*0.60 = 2.4 -> 1.2 -> 2;  claude: 8*3 + 2*15 = 54 -> 27
    assert usage_of(row) == (("oa", GPT, 8, 0, 2, 0, 2) if target == GPT else ("an", CLAUDE, 8, 0, 2, 0, 27))


async def test_thinking_budget_reaches_anthropic_and_thoughts_come_back_as_thought_parts(env: Env) -> None:
    env.an.script.reply(thinking="The user wants a number. 6 times 7 is 42.", text="42",
                        tokens=Tokens(input=25, output=300))
    text, _, _, usage, reply = await ask(
        env, CLAUDE, "6 x 7?", stream=True, max_output_tokens=4000,
        thinking_config=types.ThinkingConfig(thinking_budget=2048, include_thoughts=True))
    sent = env.an.requests[-1].json
    assert (sent["thinking"], sent["max_tokens"]) == ({"type": "enabled", "budget_tokens": 2048}, 4000)
    thoughts = "".join(p.text or "" for p in reply.parts or [] if p.thought)
    assert (thoughts, text) == ("The user wants a number. 6 times 7 is 42.", "42")
    assert usage.candidates_token_count == 300  # Anthropic counts thinking inside output_tokens
    [row] = await env.books()
    # 25*3 + 300*15 = 4575 -> 2287.5 -> 2288
    assert usage_of(row) == ("an", CLAUDE, 25, 0, 300, 0, 2288)


async def test_thinking_budget_reaches_openai_as_reasoning_effort_and_thoughts_are_billed(env: Env) -> None:
    env.oa.script.reply(text="42", tokens=Tokens(input=25, output=310, reasoning=300))
    text, _, _, usage, _ = await ask(env, REASONER, "6 x 7?", stream=False, max_output_tokens=4000,
                                     thinking_config=types.ThinkingConfig(thinking_budget=2048))
    sent = env.oa.requests[-1].json
    assert (sent["reasoning_effort"], sent["max_completion_tokens"]) == ("medium", 4000)
    assert text == "42"
    # OpenAI's completion_tokens include the reasoning; Gemini's candidatesTokenCount does not
    assert (usage.candidates_token_count, usage.thoughts_token_count) == (10, 300)
    [row] = await env.books()
    # o4-mini is priced by the "*" entry, input 1.0 and output 2.0: 25 + 310*2 = 645 -> 322.5 -> 323
    assert usage_of(row) == ("oa", REASONER, 25, 0, 310, 300, 323)


async def test_embed_content_reaches_openai_embeddings(env: Env) -> None:
    env.oa.script.reply(tokens=Tokens(input=6, output=0))
    result = await env.gemini().models.embed_content(model=OPENAI_EMBEDDER, contents=["first text", "second text"])
    sent = env.oa.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert (sent.json["model"], sent.json["input"]) == (OPENAI_EMBEDDER, ["first text", "second text"])
    assert result.embeddings is not None and len(result.embeddings) == 2
    assert result.embeddings[1].values == embedding_vector(json.dumps("second text"), 1536)
    [row] = await env.books()
    # 6 * 0.02 = 0.12 -> 0.06 -> 1
    assert usage_of(row) == ("oa", OPENAI_EMBEDDER, 6, 0, 0, 0, 1)
    assert (row.endpoint, row.protocol) == ("embeddings", "gemini")
