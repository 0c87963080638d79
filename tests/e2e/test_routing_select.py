"""Channel selection (SPEC §5): `X-Gateway-Channel` and key suffixes `#NAME` (force, no failover) and
`#!NAME` (exclude), for tokens with `channel_select: true` only, through each door's official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.routing_env import MESSAGES, PICKER_KEY, Env, openai_channel, openai_fakes, routed
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY

Ask = Callable[[Env, str, dict[str, str] | None], Awaitable[str]]


class Refused(Exception):
    """What the caller's SDK raised, reduced to what the tests compare across doors."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


async def ask_openai(env: Env, key: str, headers: dict[str, str] | None) -> str:
    import openai

    try:
        return (await env.ask(key, headers=headers))[0]
    except openai.APIStatusError as exc:
        raise Refused(exc.status_code, exc.message) from None


async def ask_anthropic(env: Env, key: str, headers: dict[str, str] | None) -> str:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=env.gw.url + "/claude", api_key=key, max_retries=0)
    try:
        message = await client.messages.create(model="gpt-4o-mini", max_tokens=100, messages=MESSAGES,
                                               extra_headers=headers)
    except anthropic.APIStatusError as exc:
        raise Refused(exc.status_code, exc.message) from None
    return "".join(block.text for block in message.content if block.type == "text")


async def ask_gemini(env: Env, key: str, headers: dict[str, str] | None) -> str:
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key=key, http_options={"base_url": env.gw.url + "/gemini"}).aio
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers=headers)) if headers else None
    try:
        reply = await client.models.generate_content(model="gpt-4o-mini", contents="Say hello", config=config)
    except errors.APIError as exc:
        raise Refused(exc.code, exc.message or "") from None
    return reply.text or ""


DOORS: dict[str, Ask] = {"openai": ask_openai, "anthropic": ask_anthropic, "gemini": ask_gemini}


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[dict[str, OpenAIFake]]:
    async with openai_fakes("a", "b", "d") as running:
        yield running


@pytest_asyncio.fixture
async def env(tmp_path: Path, fakes: dict[str, OpenAIFake]) -> AsyncIterator[Env]:
    """a (priority 10) is preferred over b; d is disabled."""
    channels = [openai_channel("a", fakes["a"], priority=10), openai_channel("b", fakes["b"]),
                openai_channel("d", fakes["d"], enabled=False)]
    async with routed(tmp_path, channels, fakes=fakes) as running:
        yield running


def pick(how: str, name: str) -> tuple[str, dict[str, str] | None]:
    """The picker's key and headers that force channel `name`, by header or by key suffix."""
    if how == "header":
        return PICKER_KEY, {"X-Gateway-Channel": name}
    return f"{PICKER_KEY}#{name}", None


@pytest.fixture(params=list(DOORS))
def ask(request: pytest.FixtureRequest) -> Ask:
    return DOORS[request.param]


@pytest.mark.parametrize("how", ["header", "suffix"])
async def test_forcing_a_channel_sends_the_call_there(env: Env, ask: Ask, how: str) -> None:
    key, headers = pick(how, "b")
    assert await ask(env, key, headers) == "answer from b"
    assert env.received() == {"a": 0, "b": 1, "d": 0}
    [row] = await env.check_books()
    assert (row.token, row.channel, row.attempts, row.outcome) == ("picker", "b", 1, "ok")


@pytest.mark.parametrize("how", ["header", "suffix"])
async def test_a_forced_channel_does_not_fail_over(env: Env, fakes: dict[str, OpenAIFake], ask: Ask,
                                                   how: str) -> None:
    fakes["b"].script.fail(503)
    key, headers = pick(how, "b")
    with pytest.raises(Refused) as caught:
        await ask(env, key, headers)
    assert caught.value.status == 503
    assert env.received() == {"a": 0, "b": 1, "d": 0}
    [row] = await env.check_books()
    assert (row.channel, row.attempts, row.status, row.quota) == ("b", 1, 503, 0)


async def test_a_forced_channel_is_tried_even_while_cooling(env: Env, fakes: dict[str, OpenAIFake],
                                                            ask: Ask) -> None:
    fakes["a"].script.fail(500)
    assert await ask(env, CALLER_KEY, None) == "answer from b"  # a now cools down
    assert await ask(env, CALLER_KEY, None) == "answer from b"
    assert await ask(env, f"{PICKER_KEY}#a", None) == "answer from a"  # has it recovered? it has
    assert env.received() == {"a": 2, "b": 2, "d": 0}
    await env.check_books()


async def test_excluding_a_channel_routes_around_it_and_never_back(env: Env, fakes: dict[str, OpenAIFake],
                                                                   ask: Ask) -> None:
    assert await ask(env, f"{PICKER_KEY}#!a", None) == "answer from b"
    fakes["b"].script.fail(502)
    with pytest.raises(Refused) as caught:
        await ask(env, f"{PICKER_KEY}#!a", None)
    assert caught.value.status == 502
    assert env.received() == {"a": 0, "b": 2, "d": 0}
    rows = await env.check_books()
    assert [(r.channel, r.attempts, r.status) for r in rows] == [("b", 1, 200), ("b", 1, 502)]


@pytest.mark.parametrize(("key", "headers"), [
    (CALLER_KEY, {"X-Gateway-Channel": "b"}),
    (f"{CALLER_KEY}#b", None),
    (f"{CALLER_KEY}#!a", None),
])
async def test_tokens_without_channel_select_are_refused(env: Env, ask: Ask, key: str,
                                                         headers: dict[str, str] | None) -> None:
    with pytest.raises(Refused) as caught:
        await ask(env, key, headers)
    assert caught.value.status == 403 and "channel" in caught.value.message
    assert env.received() == {"a": 0, "b": 0, "d": 0}
    assert await env.check_books() == []


@pytest.mark.parametrize(("key", "headers", "status"), [
    (f"{PICKER_KEY}#zzz", None, 404),
    (PICKER_KEY, {"X-Gateway-Channel": "zzz"}, 404),
    (f"{PICKER_KEY}#!zzz", None, 404),
    (f"{PICKER_KEY}#d", None, 503),
    (PICKER_KEY, {"X-Gateway-Channel": "d"}, 503),
])
async def test_unknown_channel_is_404_and_disabled_channel_503(env: Env, ask: Ask, key: str,
                                                               headers: dict[str, str] | None,
                                                               status: int) -> None:
    with pytest.raises(Refused) as caught:
        await ask(env, key, headers)
    assert caught.value.status == status
    assert env.received() == {"a": 0, "b": 0, "d": 0}
    [row] = await env.check_books()
    assert (row.token, row.status, row.quota, row.attempts) == ("picker", status, 0, 0)
    assert env.books.calls[row.request_id] == ["log"]  # refused before any hold


ANTHROPIC_BODY = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
GEMINI_PATH = "/gemini/v1beta/models/gpt-4o-mini:generateContent"


@pytest.mark.parametrize("where", ["x-api-key", "x-goog-api-key", "query key"])
@pytest.mark.parametrize(("suffix", "token", "status", "answered_by"), [
    ("#b", "picker", 200, "b"), ("#!a", "picker", 200, "b"), ("#b", "alice", 403, None)])
async def test_key_suffix_in_every_key_location(env: Env, where: str, suffix: str, token: str, status: int,
                                                answered_by: str | None) -> None:
    import aiohttp

    key = (PICKER_KEY if token == "picker" else CALLER_KEY) + suffix
    if where == "x-api-key":  # what Claude Code and curl send (the anthropic SDK sends a bearer token)
        path, body = "/claude/v1/messages", ANTHROPIC_BODY
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    elif where == "x-goog-api-key":
        path, body, headers = GEMINI_PATH, GEMINI_BODY, {"x-goog-api-key": key}
    else:
        path, body, headers = f"{GEMINI_PATH}?key={key.replace('#', '%23')}", GEMINI_BODY, {}
    async with aiohttp.ClientSession() as http, http.post(env.gw.url + path, json=body,
                                                          headers=headers) as resp:
        assert resp.status == status, await resp.text()
        reply = await resp.json()
    if answered_by is None:
        assert env.received() == {"a": 0, "b": 0, "d": 0}
        assert "channel" in str(reply)
        return
    assert f"answer from {answered_by}" in str(reply)
    assert env.received() == {"a": 0, "b": 1, "d": 0}
    [row] = await env.check_books()
    assert (row.token, row.channel, row.attempts) == (token, answered_by, 1)
