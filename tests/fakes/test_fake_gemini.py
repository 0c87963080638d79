"""The fake Gemini is faithful: the official google-genai SDK parses each answer, raises the right errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types

from tests.fakes import DEFAULT_TEXT, GeminiFake, Tokens, ToolCall

MODEL = "gemini-2.5-flash"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather of a city",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
            ),
        )
    ]
)


def client(fake: GeminiFake, key: str | None = None) -> genai.Client:
    return genai.Client(api_key=key or fake.keys[0], http_options={"base_url": fake.url})


@pytest_asyncio.fixture
async def sdk(fake_gemini: GeminiFake) -> AsyncIterator[genai.client.AsyncClient]:
    async with client(fake_gemini).aio as official:
        yield official


async def raw_post(
    fake: GeminiFake,
    path: str,
    body: Any,
    *,
    key_in_query: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    sent = {"x-goog-api-key": fake.keys[0]} if headers is None and not key_in_query else headers or {}
    url = fake.url + path + (("&" if "?" in path else "?") + "key=" + fake.keys[0] if key_in_query else "")
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=sent) as response:
        return response.status, dict(response.headers), await response.read()


CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "Say hello."}]}]}


async def test_generate_content_parses_with_usage(
    fake_gemini: GeminiFake, sdk: genai.client.AsyncClient
) -> None:
    fake_gemini.script.reply(tokens=Tokens(input=30, output=12, cached=10, reasoning=40))
    response = await sdk.models.generate_content(model=MODEL, contents="Say hello.")
    assert response.text == DEFAULT_TEXT and response.model_version == MODEL and response.response_id
    candidate = response.candidates[0] if response.candidates else None
    assert candidate and candidate.finish_reason == types.FinishReason.STOP and candidate.safety_ratings
    usage = response.usage_metadata
    assert usage and (usage.prompt_token_count, usage.candidates_token_count) == (30, 12)
    assert (usage.thoughts_token_count, usage.cached_content_token_count, usage.total_token_count) == (
        40,
        10,
        82,
    )
    sent = fake_gemini.requests[-1]
    assert sent.path == f"/v1/models/{MODEL}:generateContent"  # google-genai 3.x calls v1 by default
    assert sent.header("x-goog-api-key") == fake_gemini.keys[0]


async def test_zero_counts_are_left_out_like_proto3_json(fake_gemini: GeminiFake) -> None:
    fake_gemini.script.reply(tokens=Tokens(input=5, output=0))
    status, headers, raw = await raw_post(fake_gemini, f"/v1beta/models/{MODEL}:generateContent", CONTENTS)
    assert status == 200 and headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(raw)["usageMetadata"] == {
        "promptTokenCount": 5,
        "totalTokenCount": 5,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
    }


async def test_sse_stream_has_crlf_framing_and_cumulative_usage(
    fake_gemini: GeminiFake, sdk: genai.client.AsyncClient
) -> None:
    fake_gemini.script.reply(text="abcdefghij", chunks=4, tokens=Tokens(input=7, output=8))
    chunks = [chunk async for chunk in await sdk.models.generate_content_stream(model=MODEL, contents="hi")]
    assert "".join(c.text or "" for c in chunks) == "abcdefghij" and len(chunks) == 4
    counts = [c.usage_metadata.candidates_token_count for c in chunks if c.usage_metadata]
    assert counts == [2, 4, 6, 8]
    assert fake_gemini.requests[-1].query == {"alt": "sse"}
    status, headers, raw = await raw_post(
        fake_gemini, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", CONTENTS
    )
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = raw.decode().split("\r\n\r\n")
    assert events[-1] == "" and all(e.startswith("data: {") for e in events[:-1])
    assert json.loads(events[-2].removeprefix("data: "))["candidates"][0]["finishReason"] == "STOP"


async def test_stream_without_alt_sse_is_a_json_array(fake_gemini: GeminiFake) -> None:
    fake_gemini.script.reply(text="one two three", chunks=3)
    status, headers, raw = await raw_post(
        fake_gemini, f"/v1beta/models/{MODEL}:streamGenerateContent", CONTENTS, key_in_query=True
    )
    assert status == 200 and headers["Content-Type"] == "application/json; charset=UTF-8"
    assert raw.startswith(b"[{\n") and raw.endswith(b"\n]") and raw.count(b"\n,\r\n") == 2
    pieces = json.loads(raw)
    assert "".join(p["candidates"][0]["content"]["parts"][0]["text"] for p in pieces) == "one two three"


async def test_function_calls_only_with_declared_functions(
    fake_gemini: GeminiFake, sdk: genai.client.AsyncClient
) -> None:
    call = ToolCall("get_weather", {"city": "Lima"})
    fake_gemini.script.reply(tool_calls=[call]).reply(tool_calls=[call])
    config = types.GenerateContentConfig(tools=[WEATHER])
    response = await sdk.models.generate_content(model=MODEL, contents="Weather?", config=config)
    assert response.function_calls and response.function_calls[0].name == "get_weather"
    assert response.function_calls[0].args == {"city": "Lima"}
    plain = await sdk.models.generate_content(model=MODEL, contents="Weather?")
    assert plain.function_calls is None and plain.text == DEFAULT_TEXT


async def test_thought_parts_and_grounding_on_cue(
    fake_gemini: GeminiFake, sdk: genai.client.AsyncClient
) -> None:
    fake_gemini.script.reply(thinking="Pondering.", grounding=True)
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True),
        tools=[types.Tool(google_search=types.GoogleSearch())],
    )
    response = await sdk.models.generate_content(model=MODEL, contents="News?", config=config)
    candidate = response.candidates[0] if response.candidates else None
    assert candidate and candidate.content and candidate.content.parts
    assert [bool(p.thought) for p in candidate.content.parts] == [True, False]
    assert candidate.grounding_metadata and candidate.grounding_metadata.grounding_chunks
    assert response.usage_metadata and response.usage_metadata.thoughts_token_count


async def test_count_tokens_embeddings_and_models(
    fake_gemini: GeminiFake, sdk: genai.client.AsyncClient
) -> None:
    fake_gemini.script.reply(tokens=Tokens(input=17, output=0))
    assert (await sdk.models.count_tokens(model=MODEL, contents="Count me")).total_tokens == 17
    embedded = await sdk.models.embed_content(
        model="gemini-embedding-001",
        contents=["one", "two"],
        config=types.EmbedContentConfig(output_dimensionality=16),
    )
    assert embedded.embeddings and [len(e.values or []) for e in embedded.embeddings] == [16, 16]
    assert embedded.embeddings[0].values != embedded.embeddings[1].values
    names = [model.name async for model in await sdk.models.list()]
    assert f"models/{MODEL}" in names and "models/gemini-embedding-001" in names
    assert (await sdk.models.get(model=MODEL)).display_name == "Gemini 2.5 Flash"


async def test_key_errors_match_google(fake_gemini: GeminiFake) -> None:
    async with client(fake_gemini, key="AIzaWrong").aio as wrong:
        with pytest.raises(errors.ClientError) as caught:
            await wrong.models.generate_content(model=MODEL, contents="hi")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    path = f"/v1beta/models/{MODEL}:generateContent"
    missing = await raw_post(fake_gemini, path, CONTENTS, headers={})
    assert missing[0] == 403 and json.loads(missing[2])["error"]["status"] == "PERMISSION_DENIED"
    bearer = await raw_post(fake_gemini, path, CONTENTS, headers={"Authorization": "Bearer x"})
    assert bearer[0] == 401 and json.loads(bearer[2])["error"]["status"] == "UNAUTHENTICATED"
    assert (await raw_post(fake_gemini, path, CONTENTS, key_in_query=True))[0] == 200


async def test_validation_matches_the_real_api(fake_gemini: GeminiFake) -> None:
    path = f"/v1beta/models/{MODEL}:generateContent"
    unknown = await raw_post(fake_gemini, path, {**CONTENTS, "max_tokens": 5})
    assert unknown[0] == 400 and b'Unknown name \\"max_tokens\\"' in unknown[2]
    assert b"contents is not specified" in (await raw_post(fake_gemini, path, {"contents": []}))[2]
    role = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    assert b"valid role" in (await raw_post(fake_gemini, path, role))[2]
    answer = {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}
    assert b"function response turn" in (await raw_post(fake_gemini, path, answer))[2]
    missing_model = await raw_post(fake_gemini, "/v1beta/models/gemini-9:generateContent", CONTENTS)
    assert missing_model[0] == 404 and json.loads(missing_model[2])["error"]["status"] == "NOT_FOUND"
    page = await raw_post(fake_gemini, "/v1beta/files", {})
    assert page[0] == 404 and page[1]["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("status", "error_class", "name"),
    [
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
        (504, errors.ServerError, "DEADLINE_EXCEEDED"),
    ],
)
async def test_scripted_status_raises_the_sdk_class(
    fake_gemini: GeminiFake,
    sdk: genai.client.AsyncClient,
    status: int,
    error_class: type[errors.APIError],
    name: str,
) -> None:
    fake_gemini.script.fail(status, error_message="scripted")
    with pytest.raises(error_class) as caught:
        await sdk.models.generate_content(model=MODEL, contents="hi")
    assert (caught.value.code, caught.value.status, caught.value.message) == (status, name, "scripted")


async def test_mid_stream_error_raises(fake_gemini: GeminiFake, sdk: genai.client.AsyncClient) -> None:
    fake_gemini.script.reply(error_event_after=1)
    seen = []
    with pytest.raises(errors.ServerError) as caught:
        async for chunk in await sdk.models.generate_content_stream(model=MODEL, contents="hi"):
            seen.append(chunk)
    assert len(seen) == 1 and caught.value.status == "UNAVAILABLE"
