"""The fakes' shared machinery: the script queue, request recording, and every fault on cue."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.fakes import (
    DEFAULT_TEXT,
    AnthropicFake,
    Behaviour,
    GeminiFake,
    OpenAIFake,
    Script,
    Tokens,
    run_fake,
)

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def auth(fake: OpenAIFake) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.keys[0]}"}


async def read_stream(fake: OpenAIFake, body: Any = CHAT) -> tuple[list[str], BaseException | None]:
    """The SSE events received (split on blank lines) and the error that ended the read, if any."""
    received = b""
    failure: BaseException | None = None
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(
                fake.url + "/v1/chat/completions", json=body, headers=auth(fake)
            ) as response:
                async for piece in response.content.iter_any():
                    received += piece
        except (
            aiohttp.ClientPayloadError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientConnectionError,
        ) as error:
            failure = error
    return received.decode().split("\n\n"), failure


def test_script_takes_queued_behaviours_then_the_default() -> None:
    script = Script().reply(text="first").fail(503)
    assert script.pending == 2
    assert script.take().text == "first" and script.take().status == 503
    assert script.take() is script.default and script.default.text == DEFAULT_TEXT
    script.push(Behaviour(chunks=9)).clear()
    assert script.pending == 0


async def test_every_request_is_recorded(fake_openai: OpenAIFake) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            fake_openai.url + "/v1/chat/completions?trace=1",
            data=b"{not json",
            headers={**auth(fake_openai), "X-Custom": "yes"},
        ) as response:
            assert response.status == 400
        async with session.get(fake_openai.url + "/v1/models", headers=auth(fake_openai)) as response:
            assert response.status == 200
    broken, listed = fake_openai.requests
    assert (broken.method, broken.path, broken.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert broken.body == b"{not json" and broken.json is None and broken.header("x-custom") == "yes"
    assert listed.method == "GET" and listed.completed


async def test_stall_before_headers_sees_the_caller_leave(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(stall_before_headers=30)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(TimeoutError):
            await session.post(fake_openai.url + "/v1/chat/completions", json=CHAT, headers=auth(fake_openai))
    await asyncio.wait_for(fake_openai.requests[-1].disconnected.wait(), timeout=2)
    assert time.monotonic() - started < 3 and not fake_openai.requests[-1].completed


async def test_stall_mid_stream_pauses_between_frames(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(stall_after=(2, 0.4))
    stamps: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake_openai.url + "/v1/chat/completions", json=CHAT, headers=auth(fake_openai)
        ) as response,
    ):
        async for line in response.content:
            if line.startswith(b"data: "):
                stamps.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert len(stamps) == 6 and gaps[1] >= 0.35 and max(gaps[:1] + gaps[2:]) < 0.3


async def test_caller_leaving_mid_stream_is_recorded(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(stall_after=(2, 30))
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            fake_openai.url + "/v1/chat/completions", json=CHAT, headers=auth(fake_openai)
        )
        assert (await response.content.readuntil(b"\n\n")).startswith(b"data: {")
        response.close()  # drop the connection while the fake stalls after two frames
    started = time.monotonic()
    await asyncio.wait_for(fake_openai.requests[-1].disconnected.wait(), timeout=2)
    assert time.monotonic() - started < 1 and not fake_openai.requests[-1].completed


async def test_chunk_delay_paces_every_frame(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(chunk_delay=0.05)
    started = time.monotonic()
    events, failure = await read_stream(fake_openai)
    assert failure is None and events[-2:] == ["data: [DONE]", ""]
    assert time.monotonic() - started >= 0.05 * (len(events) - 1)


@pytest.mark.parametrize("reset", [False, True])
async def test_drop_after_k_frames_breaks_the_body(fake_openai: OpenAIFake, reset: bool) -> None:
    fake_openai.script.reply(drop_after=3, reset=reset)
    events, failure = await read_stream(fake_openai)
    assert failure is not None
    assert len([e for e in events if e.startswith("data: {")]) == 3 and "data: [DONE]" not in events
    assert not fake_openai.requests[-1].completed


async def test_truncated_event_then_clean_end(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(truncate_after=2)
    events, failure = await read_stream(fake_openai)
    assert failure is None and len(events) == 3
    json.loads(events[1].removeprefix("data: "))
    assert events[2].startswith("data: {") and not events[2].endswith("}")
    with pytest.raises(ValueError):
        json.loads(events[2].removeprefix("data: "))


async def test_malformed_frame_keeps_the_framing(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(malformed_at=1)
    events, failure = await read_stream(fake_openai)
    assert failure is None and events[-2:] == ["data: [DONE]", ""]
    with pytest.raises(ValueError):
        json.loads(events[1].removeprefix("data: "))
    assert [json.loads(e.removeprefix("data: "))["object"] for e in events[2:-2]]


async def test_huge_event_arrives_whole(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(huge_event_bytes=4 * 1024 * 1024)
    events, failure = await read_stream(fake_openai)
    assert failure is None
    sizes = [len(e) for e in events]
    assert max(sizes) > 4 * 1024 * 1024 and sum(s > 1024 for s in sizes) == 1


async def test_redirect_cookie_headers_and_retry_after(fake_openai: OpenAIFake) -> None:
    fake_openai.script.reply(redirect_to="http://127.0.0.1:9/elsewhere")
    fake_openai.script.fail(429, retry_after="2", set_cookie="session=abc; Path=/", headers={"x-extra": "1"})
    async with aiohttp.ClientSession() as session:
        async with session.post(
            fake_openai.url + "/v1/chat/completions",
            json=CHAT,
            headers=auth(fake_openai),
            allow_redirects=False,
        ) as response:
            assert response.status == 302 and response.headers["Location"] == "http://127.0.0.1:9/elsewhere"
        async with session.post(
            fake_openai.url + "/v1/chat/completions", json=CHAT, headers=auth(fake_openai)
        ) as response:
            cookies = response.headers.getall("Set-Cookie")
            assert response.status == 429 and response.headers["Retry-After"] == "2"
            assert "session=abc; Path=/" in cookies and any(c.startswith("__cf_bm=") for c in cookies)
            assert response.headers["x-extra"] == "1"


@pytest.mark.parametrize("stream", [False, True])
async def test_gzip_encoded_answers(fake_openai: OpenAIFake, stream: bool) -> None:
    fake_openai.script.reply(gzip=True)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(
            fake_openai.url + "/v1/chat/completions",
            json={**CHAT, "stream": stream},
            headers=auth(fake_openai),
        ) as response,
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(await response.read()).decode()
    assert text.endswith("data: [DONE]\n\n") if stream else json.loads(text)["object"] == "chat.completion"


async def test_non_stream_faults_cut_corrupt_or_pause_the_body(fake_openai: OpenAIFake) -> None:
    body = {**CHAT, "stream": False}
    fake_openai.script.reply(drop_after=0).reply(malformed_at=0).reply(stall_after=(0, 0.3))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            fake_openai.url + "/v1/chat/completions", json=body, headers=auth(fake_openai)
        ) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        async with session.post(
            fake_openai.url + "/v1/chat/completions", json=body, headers=auth(fake_openai)
        ) as response:
            with pytest.raises(ValueError):
                json.loads(await response.read())
        started = time.monotonic()
        async with session.post(
            fake_openai.url + "/v1/chat/completions", json=body, headers=auth(fake_openai)
        ) as response:
            assert json.loads(await response.read())["choices"][0]["message"]["content"] == DEFAULT_TEXT
        assert time.monotonic() - started >= 0.3


async def test_error_body_replaced_verbatim(fake_openai: OpenAIFake) -> None:
    fake_openai.script.fail(502, error_body=b"<html>bad gateway</html>")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake_openai.url + "/v1/chat/completions", json=CHAT, headers=auth(fake_openai)
        ) as response,
    ):
        assert response.status == 502 and await response.read() == b"<html>bad gateway</html>"


async def test_absurd_usage_passes_verbatim(
    fake_openai: OpenAIFake, fake_anthropic: AnthropicFake, fake_gemini: GeminiFake
) -> None:
    absurd = Tokens(input=-5, output=10**12, cached=-1)
    for fake in (fake_openai, fake_anthropic, fake_gemini):
        fake.script.reply(tokens=absurd, usage_override={"surprise": True})
    async with aiohttp.ClientSession() as session:
        async with session.post(
            fake_openai.url + "/v1/chat/completions",
            json={**CHAT, "stream": False},
            headers=auth(fake_openai),
        ) as response:
            usage = (await response.json())["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["surprise"]) == (-5, 10**12, True)
        async with session.post(
            fake_anthropic.url + "/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": CHAT["messages"]},
            headers={"x-api-key": fake_anthropic.keys[0], "anthropic-version": "2023-06-01"},
        ) as response:
            usage = (await response.json())["usage"]
        assert (usage["input_tokens"], usage["cache_read_input_tokens"], usage["surprise"]) == (-5, -1, True)
        async with session.post(
            fake_gemini.url + "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": fake_gemini.keys[0]},
        ) as response:
            usage = (await response.json())["usageMetadata"]
        assert (usage["promptTokenCount"], usage["candidatesTokenCount"]) == (-5, 10**12)


async def test_run_fake_serves_a_plain_app_and_shuts_down_despite_stalls() -> None:
    fake = OpenAIFake()
    fake.script.reply(stall_before_headers=60)
    async with aiohttp.ClientSession() as session:
        async with run_fake(fake.app) as url:
            assert url == fake.url and url.startswith("http://127.0.0.1:")
            stalled = asyncio.create_task(session.get(url + "/v1/models", headers=auth(fake)))
            async with asyncio.timeout(2):
                await fake.wait_for_requests(1)
            started = time.monotonic()
        assert time.monotonic() - started < 3  # the stall ends at shutdown instead of holding it for 60 s
        response = await stalled
        assert response.status == 200
        response.release()
