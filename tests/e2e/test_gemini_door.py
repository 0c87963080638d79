"""The official google-genai SDK against the gateway's Gemini door, in front of the fake Gemini upstream.

Fidelity is checked against a twin: two fakes seeded alike answer the same request with the same bytes,
so what the caller gets through the gateway must equal what it gets from the provider directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types
from yarl import URL

from gateway.ledger.base import LogQuery
from gateway.protocols import Protocol, estimate
from tests.fakes import AnthropicFake, GeminiFake, Tokens, run_fake
from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway, channel, make_config, running_gateway, token

MODEL = "gemini-2.5-flash"
EMBEDDER = "text-embedding-004"
BOB, POOR = "sk-test-bob-000000", "sk-test-poor-000000"
PROMPT = {"role": "user", "parts": [{"text": "Who won the match?"}]}
# Features the gateway does not model: search grounding, code execution, URL context, thoughts, safety.
GROUNDED: dict[str, Any] = {
    "contents": [PROMPT],
    "tools": [{"googleSearch": {}}, {"codeExecution": {}}, {"urlContext": {}}],
    "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
                         "maxOutputTokens": 1000},
    "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
}


@pytest_asyncio.fixture
async def twins() -> AsyncIterator[tuple[GeminiFake, GeminiFake]]:
    """Two fakes that answer alike: one behind the gateway, one called directly."""
    behind, direct = GeminiFake(seed=5), GeminiFake(seed=5)
    async with run_fake(behind), run_fake(direct):
        yield behind, direct


@pytest_asyncio.fixture
async def gw(tmp_path: Path, twins: tuple[GeminiFake, GeminiFake]) -> AsyncIterator[Gateway]:
    behind = twins[0]
    config = make_config(tmp_path, channels=[channel("ge", "gemini", behind.url, key=behind.keys[0],
                                                     models=["gemini-*", "text-embedding-*"],
                                                     model_map={"gemini-alias": MODEL,
                                                                "text-embedding-alias": EMBEDDER})],
                         tokens=[token("alice"), token("bob", key=BOB, models=["gemini-2.5-pro"]),
                                 token("poor", key=POOR, quota=1)])
    async with running_gateway(config) as gateway:
        yield gateway


def sdk(gw: Gateway, key: str = CALLER_KEY, *, prefix: str = "/gemini") -> genai.client.AsyncClient:
    return genai.Client(api_key=key, http_options={"base_url": gw.url + prefix}).aio


async def rows(gw: Gateway) -> list[Any]:
    await gw.runtime.idle()  # replies go out before their settlement is written
    page = await gw.runtime.ledger.logs(LogQuery(limit=1000))
    return [row for _, row in page.rows]


async def assert_books_balance(gw: Gateway) -> None:
    for name, balance in (await gw.runtime.ledger.balances()).items():
        assert balance.used == sum(r.quota for r in await rows(gw) if r.token == name), name
        assert balance.held == 0, name


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as http, http.post(URL(url, encoded=True), data=json.dumps(body),
                                                          headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.read()


def responses(raw: bytes, *, sse: bool) -> list[Any]:
    """The GenerateContentResponse objects of a reply: one JSON body, SSE `data:` events or a JSON array."""
    if sse:
        return [json.loads(line.removeprefix(b"data: ")) for line in raw.splitlines() if line.strip()]
    parsed = json.loads(raw)
    return parsed if isinstance(parsed, list) else [parsed]


# ---- pass-through fidelity ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent?alt=sse", "streamGenerateContent"])
async def test_calls_are_passed_through_byte_for_byte_both_ways(gw: Gateway, twins: Any, method: str) -> None:
    behind, direct = twins
    for fake in twins:
        fake.script.reply(thinking="Searching the scores.", grounding=True, chunks=3,
                          tokens=Tokens(input=40, output=20, reasoning=30))
    path = f"/v1beta/models/{MODEL}:{method}"
    status, headers, through = await post(gw.url + "/gemini" + path, GROUNDED, {"x-goog-api-key": CALLER_KEY})
    _, _, straight = await post(direct.url + path, GROUNDED, {"x-goog-api-key": direct.keys[0]})
    assert status == 200
    sent = behind.requests[-1]
    assert sent.json == GROUNDED and sent.body == direct.requests[-1].body  # untouched (model is in the URL)
    assert sent.header("x-goog-api-key") == behind.keys[0] and "key" not in sent.query
    assert sent.path == f"/v1beta/models/{MODEL}:" + method.partition("?")[0]
    if method == "streamGenerateContent":  # upstream always streams SSE; the caller gets its JSON array
        assert sent.query == {"alt": "sse"}
        assert headers["content-type"].startswith("application/json")
        assert json.loads(through) == json.loads(straight)
    else:
        assert through == straight
    chunks = responses(through, sse=method.endswith("sse"))
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "groundingMetadata" in chunks[-1]["candidates"][0] and any(p.get("thought") for p in parts)
    [row] = await rows(gw)
    # prompt 40, output 20 + 30 thoughts: 40*1.25 + 50*10 = 550 USD per 1M -> 275 quota
    assert (row.prompt_tokens, row.completion_tokens, row.reasoning_tokens, row.quota) == (40, 50, 30, 275)
    assert row.stream is method.startswith("stream")


async def test_generate_content_with_sdk_keeps_grounding_and_bills_cached_and_thoughts(gw: Gateway,
                                                                                        twins: Any) -> None:
    behind = twins[0]
    behind.script.reply(thinking="Let me look it up.", grounding=True,
                        tokens=Tokens(input=1200, output=300, cached=200, reasoning=500))
    config = types.GenerateContentConfig(
        tools=[types.Tool(google_search=types.GoogleSearch())],
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512),
        safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH,
                                             threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH)])
    response = await sdk(gw).models.generate_content(model=MODEL, contents="Who won?", config=config)
    candidate = response.candidates[0] if response.candidates else None
    assert candidate is not None and candidate.grounding_metadata is not None
    assert candidate.grounding_metadata.web_search_queries == ["fake upstream query"]
    assert candidate.content and candidate.content.parts and candidate.content.parts[0].thought is True
    sent = behind.requests[-1]
    assert sent.path == f"/v1/models/{MODEL}:generateContent"  # the SDK's version is kept
    assert sent.json["tools"] == [{"googleSearch": {}}]
    assert sent.json["safetySettings"] == [{"category": "HARM_CATEGORY_HATE_SPEECH",
                                            "threshold": "BLOCK_ONLY_HIGH"}]
    [row] = await rows(gw)
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens, row.reasoning_tokens) == (
        1000, 200, 800, 500)
    # 1000*1.25 + 200*0.31 + 800*10 = 9,312 USD per 1M -> 0.009312 USD * 500,000 = 4,656 quota
    assert row.quota == 4656 and row.protocol == "gemini" and not row.usage_estimated
    await assert_books_balance(gw)


async def test_stream_with_sdk_and_cumulative_usage(gw: Gateway, twins: Any) -> None:
    twins[0].script.reply(text="Spain won two to one.", chunks=4, tokens=Tokens(input=400, output=90,
                                                                                reasoning=60))
    stream = await sdk(gw).models.generate_content_stream(model=MODEL, contents="Who won?")
    chunks = [chunk async for chunk in stream]
    assert "".join(c.text or "" for c in chunks) == "Spain won two to one."
    assert twins[0].requests[-1].query == {"alt": "sse"}
    [row] = await rows(gw)
    # the last usageMetadata counts: 400 prompt, 90 + 60 output -> 400*1.25 + 150*10 = 2,000 -> 1,000 quota
    assert (row.stream, row.prompt_tokens, row.completion_tokens, row.quota) == (True, 400, 150, 1000)


async def test_bare_base_url_reaches_v1_models_method(gw: Gateway, twins: Any) -> None:
    response = await sdk(gw, prefix="").models.generate_content(model=MODEL, contents="Hello")
    assert response.text
    assert twins[0].requests[-1].path == f"/v1/models/{MODEL}:generateContent"


async def test_model_map_renames_the_url_and_the_rows_keep_the_requested_name(gw: Gateway, twins: Any) -> None:
    await sdk(gw).models.generate_content(model="gemini-alias", contents="Hello")
    assert twins[0].requests[-1].path == f"/v1/models/{MODEL}:generateContent"
    [row] = await rows(gw)
    assert (row.model, row.upstream_model) == ("gemini-alias", MODEL)


@pytest.mark.parametrize("where", ["query", "bearer"])
async def test_key_from_query_or_bearer(gw: Gateway, where: str) -> None:
    body = {"contents": [PROMPT]}
    url = gw.url + f"/v1beta/models/{MODEL}:generateContent"
    if where == "query":
        status, _, _ = await post(url + f"?key={CALLER_KEY}", body)
    else:
        status, _, _ = await post(url, body, {"Authorization": f"Bearer {CALLER_KEY}"})
    assert status == 200


# ---- countTokens, embeddings -------------------------------------------------------------------------

async def test_count_tokens_goes_to_the_gemini_channel_and_is_free(gw: Gateway, twins: Any) -> None:
    twins[0].script.reply(tokens=Tokens(input=77, output=0))
    counted = await sdk(gw).models.count_tokens(model=MODEL, contents="How many tokens?")
    assert counted.total_tokens == 77
    assert twins[0].requests[-1].path == f"/v1/models/{MODEL}:countTokens"
    [row] = await rows(gw)
    assert (row.endpoint, row.outcome, row.quota, row.channel) == ("count_tokens", "ok", 0, "ge")
    assert (await gw.runtime.ledger.balance("alice")).used == 0


async def test_count_tokens_without_a_gemini_channel_is_estimated(tmp_path: Path,
                                                                  fake_anthropic: AnthropicFake) -> None:
    config = make_config(tmp_path, channels=[channel("an", "anthropic", fake_anthropic.url,
                                                     key=fake_anthropic.keys[0])])
    body = {"contents": [PROMPT]}
    async with running_gateway(config) as gw:
        status, headers, raw = await post(gw.url + f"/gemini/v1beta/models/{MODEL}:countTokens", body,
                                          {"x-goog-api-key": CALLER_KEY})
        assert status == 200 and headers["x-gateway-estimated"] == "true"
        assert json.loads(raw) == {"totalTokens": estimate.estimate_prompt_tokens(Protocol.GEMINI, body)}
        assert fake_anthropic.requests == []
        [row] = await rows(gw)
        assert (row.endpoint, row.quota, row.usage_estimated) == ("count_tokens", 0, True)


async def test_embed_content_goes_to_batch_embed_with_mapped_names(gw: Gateway, twins: Any) -> None:
    result = await sdk(gw).models.embed_content(model="text-embedding-alias", contents=["first", "second"])
    assert result.embeddings is not None and len(result.embeddings) == 2
    assert len(result.embeddings[0].values or []) == 768
    sent = twins[0].requests[-1]
    assert sent.path == f"/v1/models/{EMBEDDER}:batchEmbedContents"
    assert [r["model"] for r in sent.json["requests"]] == [f"models/{EMBEDDER}"] * 2
    [row] = await rows(gw)
    assert (row.endpoint, row.outcome, row.usage_estimated) == ("embeddings", "ok", True)
    # no usage in embedding answers: billed on the prompt estimate at the "*" price ($1 per 1M input)
    assert row.quota == -(-row.prompt_tokens * 500_000 // 1_000_000) and row.prompt_tokens > 0


async def test_embed_content_single(gw: Gateway, twins: Any) -> None:
    status, _, raw = await post(gw.url + f"/v1beta/models/{EMBEDDER}:embedContent",
                                {"content": {"parts": [{"text": "one"}]}}, {"x-goog-api-key": CALLER_KEY})
    assert status == 200 and len(json.loads(raw)["embedding"]["values"]) == 768


# ---- models ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["/gemini", ""])
async def test_models_list_and_get_in_gemini_shape(gw: Gateway, prefix: str) -> None:
    client = sdk(gw, prefix=prefix)
    names = [m.name async for m in await client.models.list()]
    assert "models/gemini-alias" in names and "models/text-embedding-alias" in names
    model = await client.models.get(model="gemini-alias")
    assert model.name == "models/gemini-alias" and model.supported_actions
    with pytest.raises(errors.ClientError) as caught:
        await client.models.get(model="claude-x")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize(("headers", "query", "shape"), [
    ({"Authorization": f"Bearer {CALLER_KEY}"}, "", "openai"),
    ({"x-api-key": CALLER_KEY, "anthropic-version": "2023-06-01"}, "", "anthropic"),
    ({"x-goog-api-key": CALLER_KEY}, "", "gemini"),
    ({}, f"?key={CALLER_KEY}", "gemini"),
])
async def test_v1_models_answers_in_the_callers_shape(gw: Gateway, headers: dict[str, str], query: str,
                                                      shape: str) -> None:
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(gw.url + "/v1/models" + query) as resp:
            listing = await resp.json()
        async with http.get(gw.url + "/v1/models/gemini-alias" + query) as resp:
            one = await resp.json()
    if shape == "openai":
        assert listing["object"] == "list" and one == {**one, "id": "gemini-alias", "object": "model"}
    elif shape == "anthropic":
        assert "has_more" in listing and one["type"] == "model" and one["id"] == "gemini-alias"
    else:
        assert "models" in listing and one["name"] == "models/gemini-alias"


async def test_models_list_pages(gw: Gateway) -> None:
    headers = {"x-goog-api-key": CALLER_KEY}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(gw.url + "/v1beta/models?pageSize=1") as resp:
            first = await resp.json()
        async with http.get(gw.url + f"/v1beta/models?pageSize=1&pageToken={first['nextPageToken']}") as resp:
            second = await resp.json()
    assert len(first["models"]) == len(second["models"]) == 1
    assert first["models"] != second["models"]


# ---- errors (SPEC §7) in Gemini's shape --------------------------------------------------------------

@pytest.mark.parametrize(("key", "model", "code", "status"), [
    ("sk-nobody", MODEL, 401, "UNAUTHENTICATED"),
    (BOB, MODEL, 403, "PERMISSION_DENIED"),
    (CALLER_KEY, "llama-3", 404, "NOT_FOUND"),
    (POOR, MODEL, 429, "RESOURCE_EXHAUSTED"),
])
async def test_gateway_errors_reach_the_sdk_as_client_errors(gw: Gateway, twins: Any, key: str, model: str,
                                                             code: int, status: str) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await sdk(gw, key).models.generate_content(model=model, contents="Hello")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert twins[0].requests == []
    await assert_books_balance(gw)


async def test_bad_body_and_no_price_are_invalid_argument(tmp_path: Path, fake_gemini: GeminiFake) -> None:
    config = make_config(tmp_path, channels=[channel("ge", "gemini", fake_gemini.url, key=fake_gemini.keys[0])],
                         pricing={"gpt-*": {"input": 1, "output": 1}})
    async with running_gateway(config) as gw:
        with pytest.raises(errors.ClientError) as caught:
            await sdk(gw).models.generate_content(model=MODEL, contents="Hello")
        assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
        assert "no price configured" in (caught.value.message or "")
        status, _, raw = await post(gw.url + f"/gemini/v1beta/models/{MODEL}:generateContent", {"contents": []},
                                    {"x-goog-api-key": CALLER_KEY})
        assert status == 400 and json.loads(raw)["error"]["status"] == "INVALID_ARGUMENT"
        assert fake_gemini.requests == []


async def test_body_too_large_is_413_invalid_argument(tmp_path: Path, fake_gemini: GeminiFake) -> None:
    config = make_config(tmp_path, channels=[channel("ge", "gemini", fake_gemini.url, key=fake_gemini.keys[0])],
                         server={"admin_key": ADMIN_KEY, "max_body_bytes": 1000})
    async with running_gateway(config) as gw:
        with pytest.raises(errors.ClientError) as caught:
            await sdk(gw).models.generate_content(model=MODEL, contents="x" * 5000)
        assert (caught.value.code, caught.value.status) == (413, "INVALID_ARGUMENT")


@pytest.mark.parametrize(("upstream", "code", "status"), [
    (503, 503, "UNAVAILABLE"), (500, 502, "UNAVAILABLE"), (504, 504, "DEADLINE_EXCEEDED"),
])
async def test_upstream_failures_reach_the_sdk_as_server_errors(gw: Gateway, twins: Any, upstream: int,
                                                                code: int, status: str) -> None:
    behind = twins[0]
    behind.script.fail(upstream, error_message=f"broken, key={behind.keys[0]}")
    with pytest.raises(errors.ServerError) as caught:
        await sdk(gw).models.generate_content(model=MODEL, contents="Hello")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert behind.keys[0] not in (caught.value.message or "")
    [row] = await rows(gw)
    assert (row.outcome, row.quota) == ("error", 0)


@pytest.mark.parametrize("path", [
    "/gemini/v1beta/models/%2E%2E:generateContent",
    "/gemini/v1beta/models/..:generateContent",
    "/v1beta/models/..%2Fetc:generateContent",
    "/gemini/v1/models/gemini%2F..%2F..%2Fx:generateContent",
    "/gemini/v1beta/models/gem%00ini:generateContent",
    "/v1/models/gem%0Aini:streamGenerateContent",
    "/gemini/v1beta/models/gemini%252E:generateContent",
])
async def test_unsafe_model_segments_are_refused_before_any_upstream(gw: Gateway, twins: Any, path: str) -> None:
    status, _, raw = await post(gw.url + path, {"contents": [PROMPT]}, {"x-goog-api-key": CALLER_KEY})
    assert status == 400
    assert json.loads(raw)["error"]["status"] == "INVALID_ARGUMENT"
    assert twins[0].requests == []


async def test_unknown_method_is_404_in_gemini_shape(gw: Gateway) -> None:
    status, _, raw = await post(gw.url + f"/gemini/v1beta/models/{MODEL}:predictLongRunning",
                                {"contents": [PROMPT]}, {"x-goog-api-key": CALLER_KEY})
    assert status == 404 and json.loads(raw)["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("alt", ["?alt=sse", ""])
async def test_mid_stream_error_reaches_the_caller_as_an_error_object(gw: Gateway, twins: Any, alt: str) -> None:
    twins[0].script.reply(error_event_after=2, chunks=4, tokens=Tokens(input=50, output=20))
    status, _, raw = await post(gw.url + f"/gemini/v1beta/models/{MODEL}:streamGenerateContent{alt}",
                                {"contents": [PROMPT]}, {"x-goog-api-key": CALLER_KEY})
    assert status == 200
    events = responses(raw, sse=bool(alt))  # without alt=sse: still one valid JSON array
    assert [("error" in e) for e in events] == [False, False, True]
    assert events[-1]["error"]["status"] == "UNAVAILABLE"
    [row] = await rows(gw)
    assert (row.outcome, row.stream) == ("error", True) and "overloaded" in row.error
    # 50 prompt tokens and the reported cumulative 10 output tokens after two of four chunks:
    # the relayed text "Hello! This is the fake " (24 bytes -> 8 tokens) is less, so 10 counts:
    # 50*1.25 + 10*10 = 162.5 USD per 1M -> 81.25 -> 82 quota
    assert (row.prompt_tokens, row.completion_tokens, row.quota) == (50, 10, 82)
    await assert_books_balance(gw)


async def test_mid_stream_error_raises_in_the_sdk(gw: Gateway, twins: Any) -> None:
    twins[0].script.reply(error_event_after=1, chunks=3)
    received = []
    with pytest.raises(errors.APIError) as caught:
        async for chunk in await sdk(gw).models.generate_content_stream(model=MODEL, contents="Hello"):
            received.append(chunk.text)
    assert caught.value.code == 503 and len(received) == 1
