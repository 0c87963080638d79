"""Routing end to end (SPEC §5): failover, cooldowns, key rotation, retries, weights and tiers, with the
official openai SDK as the caller and fake upstreams failing on cue."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anthropic
import openai
import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from gateway.protocols import estimate
from tests.e2e.routing_env import MESSAGES, Env, closed_port_url, openai_channel, openai_fakes, routed
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Tokens

Fakes = dict[str, OpenAIFake]
REVOKED = "sk-revoked-upstream-key-9999"


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[Fakes]:
    async with openai_fakes("a", "b", "c") as running:
        yield running


@pytest_asyncio.fixture
async def env(tmp_path: Path, fakes: Fakes) -> AsyncIterator[Env]:
    """a (priority 10) before b (priority 0); c is configured but serves another model."""
    channels = [openai_channel("a", fakes["a"], priority=10), openai_channel("b", fakes["b"])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"], "b": fakes["b"]}) as running:
        yield running


async def test_429_with_retry_after_fails_over_and_cools_the_channel_that_long(env: Env,
                                                                              fakes: Fakes) -> None:
    fakes["a"].script.fail(429, retry_after="2")
    text, headers = await env.ask()
    assert text == "answer from b"
    assert headers["x-gateway-channel-attempts"] == "2"
    assert env.received() == {"a": 1, "b": 1}
    [row] = await env.check_books()
    assert (row.channel, row.attempts, row.outcome, row.status) == ("b", 2, "ok", 200)
    assert row.quota > 0
    state = (await env.channels())["a"]
    [cooldown] = state["cooldowns"]
    assert cooldown["model"] == "gpt-4o-mini" and 1.5 <= cooldown["seconds_left"] <= 2  # not the 30s default
    assert state["recent_errors"][0]["status"] == 429

    # While a cools, calls go straight to b.
    assert (await env.ask())[0] == "answer from b"
    assert env.received() == {"a": 1, "b": 2}
    env.clock.now += 2.5  # Retry-After has passed: a is back by itself
    assert (await env.ask())[0] == "answer from a"
    assert env.received() == {"a": 2, "b": 2}
    assert (await env.channels())["a"]["cooldowns"] == []
    rows = await env.check_books()
    assert [(r.channel, r.attempts) for r in rows] == [("b", 2), ("b", 1), ("a", 1)]


@pytest.mark.parametrize("fault", ["500", "502", "503", "529", "refused", "stall_before_headers"])
async def test_server_errors_and_no_answer_fail_over(tmp_path: Path, fakes: Fakes,
                                                     fault: str) -> None:
    first = openai_channel("a", fakes["a"], priority=10, timeouts={"first_byte": 0.3})
    if fault == "refused":
        first["base_url"] = closed_port_url()
    elif fault == "stall_before_headers":
        fakes["a"].script.reply(stall_before_headers=5)
    else:
        fakes["a"].script.fail(int(fault))
    channels = [first, openai_channel("b", fakes["b"])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"], "b": fakes["b"]},
                      routing={"cooldown_seconds": 40}) as env:
        started = time.monotonic()
        text, _ = await env.ask()
        assert time.monotonic() - started < 3
        assert text == "answer from b"
        assert env.received() == {"a": 0 if fault == "refused" else 1, "b": 1}
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.outcome) == ("b", 2, "ok")
        state = (await env.channels())["a"]
        [cooldown] = state["cooldowns"]
        assert 39 <= cooldown["seconds_left"] <= 40  # routing.cooldown_seconds: no Retry-After was sent
        expected = None if fault in ("refused", "stall_before_headers") else int(fault)
        assert state["recent_errors"][0]["status"] == expected


async def test_stream_fails_over_before_the_first_byte(env: Env, fakes: Fakes) -> None:
    fakes["a"].script.fail(503)
    fakes["b"].script.reply(text="streamed by b", chunks=3, tokens=Tokens(input=9, output=3))
    stream = await env.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "streamed by b"
    [row] = await env.check_books()
    assert (row.channel, row.attempts, row.stream, row.completion_tokens) == ("b", 2, True, 3)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_client_errors_are_returned_at_once_without_a_second_attempt(env: Env, fakes: Fakes,
                                                                          status: int) -> None:
    fakes["a"].script.fail(status, error_message=f"upstream says {status}")
    with pytest.raises(openai.APIStatusError) as caught:
        await env.ask()
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and body["message"] == f"upstream says {status}"
    assert body["type"] == "invalid_request_error"
    assert env.received() == {"a": 1, "b": 0}
    [row] = await env.check_books()
    assert (row.channel, row.attempts, row.status, row.outcome, row.quota) == ("a", 1, status, "error", 0)
    assert (await env.channels())["a"]["cooldowns"] == []  # the caller's mistake, not the channel's


async def test_client_error_reaches_another_door_in_its_own_shape(env: Env, fakes: Fakes) -> None:
    fakes["a"].script.fail(422, error_message="upstream says 422")
    with pytest.raises(anthropic.UnprocessableEntityError) as caught:
        await env.claude().messages.create(model="gpt-4o-mini", max_tokens=100, messages=MESSAGES)
    assert caught.value.body == {"type": "error", "error": {"type": "invalid_request_error",
                                                            "message": "upstream says 422"}}
    assert env.received() == {"a": 1, "b": 0}
    [row] = await env.check_books()
    assert (row.protocol, row.channel, row.attempts, row.status) == ("anthropic", "a", 1, 422)


async def test_revoked_key_is_set_aside_and_the_next_key_of_the_channel_answers(
        tmp_path: Path, fakes: Fakes) -> None:
    good = fakes["a"].keys[0]
    channels = [openai_channel("a", fakes["a"], keys=[REVOKED, good])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"]}) as env:
        with capture_logs() as logged:
            text, _ = await env.ask()
        assert text == "answer from a"
        sent = [r.header("authorization") for r in fakes["a"].requests]
        assert sent == [f"Bearer {REVOKED}", f"Bearer {good}"]
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.outcome) == ("a", 2, "ok")
        assert REVOKED not in repr(logged) and good not in repr(logged)
        [aside] = [e for e in logged if e["event"] == "channel_key_set_aside"]
        assert (aside["channel"], aside["key_index"], aside["status"]) == ("a", 0, 401)
        keys = (await env.channels())["a"]["keys"]
        assert (keys["total"], keys["usable"], [k["index"] for k in keys["set_aside"]]) == (2, 1, [0])
        # The refused key stays aside: later calls use the good one only.
        await env.ask()
        await env.ask()
        assert [r.header("authorization") for r in fakes["a"].requests[2:]] == [f"Bearer {good}"] * 2
        assert (await env.channels())["a"]["cooldowns"] == []  # a key problem does not cool the channel


async def test_channel_whose_only_key_is_refused_hands_over_to_the_next_channel(
        tmp_path: Path, fakes: Fakes) -> None:
    channels = [openai_channel("a", fakes["a"], priority=10, keys=[REVOKED]), openai_channel("b", fakes["b"])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"], "b": fakes["b"]}) as env:
        with capture_logs() as logged:
            assert (await env.ask())[0] == "answer from b"  # never the upstream's 401
        assert REVOKED not in repr(logged)
        failed = [e for e in logged if e["event"] == "upstream_failed"]
        assert [(e["channel"], e["status"]) for e in failed] == [("a", 503)]  # its keys are all out
        assert any(e["event"] == "channel_keys_exhausted" and e["channel"] == "a" for e in logged)
        assert (await env.ask())[0] == "answer from b"  # a has no usable key left: not even tried
        assert env.received() == {"a": 1, "b": 2}
        rows = await env.check_books()
        assert [(r.channel, r.attempts) for r in rows] == [("b", 2), ("b", 1)]


async def test_all_keys_refused_is_503_never_401(tmp_path: Path, fakes: Fakes) -> None:
    channels = [openai_channel("a", fakes["a"], keys=[REVOKED, REVOKED + "-2"])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"]}) as env:
        for _ in range(2):  # the second call is refused by routing, before any upstream
            with pytest.raises(openai.InternalServerError) as caught:
                await env.ask()
            assert caught.value.status_code == 503
            assert "key" in caught.value.message
        assert env.received() == {"a": 2}
        rows = await env.check_books()
        assert [(r.status, r.attempts, r.quota) for r in rows] == [(503, 2, 0), (503, 0, 0)]


@pytest.mark.parametrize("fault", ["drop_after", "stall_after"])
async def test_stream_that_sent_bytes_is_never_replayed(tmp_path: Path, fakes: Fakes,
                                                        fault: str) -> None:
    text = "one two three four five six"
    if fault == "drop_after":
        fakes["a"].script.reply(text=text, chunks=6, drop_after=3)
    else:
        fakes["a"].script.reply(text=text, chunks=6, stall_after=(3, 5))
    channels = [openai_channel("a", fakes["a"], priority=10, timeouts={"idle": 0.3}),
                openai_channel("b", fakes["b"])]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"], "b": fakes["b"]}) as env:
        stream = await env.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                            stream=True)
        got = ""
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                got += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        assert "upstream" in caught.value.message
        assert got and text.startswith(got) and got != text
        assert env.received() == {"a": 1, "b": 0}
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.outcome, row.status) == ("a", 1, "error", 200)
        assert row.completion_tokens == estimate.tokens_from_chars(len(got.encode()))
        assert row.usage_estimated and row.quota > 0  # settled for what was produced
        assert env.books.calls[row.request_id] == ["hold", "settle:True"]


@pytest.mark.parametrize("fault", ["drop_after", "error_event_after"])
async def test_anthropic_stream_broken_after_bytes_ends_with_an_error_event(
        tmp_path: Path, fakes: Fakes, fake_anthropic: AnthropicFake, fault: str) -> None:
    text = "one two three four five six"
    fake_anthropic.script.reply(text=text, chunks=6, **{fault: 5})
    channels = [{"name": "claude", "type": "anthropic", "base_url": fake_anthropic.url,
                 "keys": [fake_anthropic.keys[0]], "models": ["claude-*"], "priority": 10},
                openai_channel("b", fakes["b"], models=["claude-*"], model_map={"claude-*": "gpt-4o-mini"})]
    async with routed(tmp_path, channels, fakes={"b": fakes["b"]}) as env:
        events = await env.claude().messages.create(model="claude-sonnet-4-6", max_tokens=100,
                                                    messages=MESSAGES, stream=True)
        got = ""
        with pytest.raises(anthropic.APIStatusError) as caught:  # the SDK's reading of `event: error`
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    got += event.delta.text
        assert caught.value.body["error"]["type"] in ("api_error", "overloaded_error")  # type: ignore[index]
        assert got and text.startswith(got) and got != text
        assert env.received() == {"b": 0}  # never replayed
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.outcome, row.status) == ("claude", 1, "error", 200)
        assert row.quota > 0 and env.books.calls[row.request_id] == ["hold", "settle:True"]


async def test_error_event_before_any_byte_fails_over(env: Env, fakes: Fakes) -> None:
    fakes["a"].script.reply(error_event_after=0)
    stream = await env.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "answer from b"
    [row] = await env.check_books()
    assert (row.channel, row.attempts, row.outcome) == ("b", 2, "ok")
    assert len((await env.channels())["a"]["cooldowns"]) == 1


@pytest.mark.parametrize("door", ["openai", "anthropic"])  # translated, and passed through as it is
async def test_anthropic_overloaded_as_first_event_fails_over(
        tmp_path: Path, fakes: Fakes, fake_anthropic: AnthropicFake, door: str) -> None:
    fake_anthropic.script.reply(error_event_after=0)
    channels = [{"name": "claude", "type": "anthropic", "base_url": fake_anthropic.url,
                 "keys": [fake_anthropic.keys[0]], "models": ["smart"], "priority": 10,
                 "model_map": {"smart": "claude-sonnet-4-6"}},
                openai_channel("b", fakes["b"], models=["smart"], model_map={"smart": "gpt-4o-mini"})]
    async with routed(tmp_path, channels, fakes={"b": fakes["b"]}) as env:
        if door == "openai":
            stream = await env.client().chat.completions.create(model="smart", messages=MESSAGES, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        else:
            events = await env.claude().messages.create(model="smart", max_tokens=100, messages=MESSAGES,
                                                        stream=True)
            text = "".join([e.delta.text async for e in events
                            if e.type == "content_block_delta" and e.delta.type == "text_delta"])
        assert text == "answer from b"
        assert len(fake_anthropic.requests) == 1 and env.received() == {"b": 1}
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.outcome, row.upstream_model) == ("b", 2, "ok", "gpt-4o-mini")
        state = (await env.channels())["claude"]
        assert state["recent_errors"][0]["status"] == 529 and len(state["cooldowns"]) == 1


@pytest.mark.parametrize("retries", [0, 1])
async def test_retries_bound_the_attempts(tmp_path: Path, fakes: Fakes, retries: int) -> None:
    for fake in fakes.values():
        fake.script.fail(503)
    channels = [openai_channel(name, fake, priority=30 - 10 * i)
                for i, (name, fake) in enumerate(fakes.items())]
    async with routed(tmp_path, channels, fakes=fakes, routing={"retries": retries}) as env:
        with pytest.raises(openai.InternalServerError) as caught:
            await env.ask()
        assert caught.value.status_code == 503
        assert env.received() == {"a": 1, "b": int(retries >= 1), "c": 0}
        [row] = await env.check_books()
        assert (row.attempts, row.status, row.quota, row.outcome) == (retries + 1, 503, 0, "error")


@pytest.mark.parametrize(("last", "status"), [("500", 502), ("502", 502), ("503", 503), ("529", 503),
                                              ("429", 503), ("stall", 504), ("refused", 502)])
async def test_when_every_candidate_fails_the_last_failure_picks_the_status(
        tmp_path: Path, fakes: Fakes, last: str, status: int) -> None:
    fakes["a"].script.fail(500)
    second = openai_channel("b", fakes["b"], timeouts={"first_byte": 0.3})
    if last == "stall":
        fakes["b"].script.reply(stall_before_headers=5)
    elif last == "refused":
        second["base_url"] = closed_port_url()
    else:
        fakes["b"].script.fail(int(last), retry_after="3" if last == "429" else None)
    channels = [openai_channel("a", fakes["a"], priority=10), second]
    async with routed(tmp_path, channels, fakes={"a": fakes["a"]}) as env:
        with pytest.raises(openai.APIStatusError) as caught:
            await env.ask()
        assert caught.value.status_code == status
        assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "server_error"
        [row] = await env.check_books()
        assert (row.channel, row.attempts, row.status, row.quota) == ("b", 2, status, 0)
        # Both now cool down: the next call is refused by routing without reaching an upstream.
        with pytest.raises(openai.InternalServerError) as again:
            await env.ask()
        assert again.value.status_code == 503 and "cooling down" in again.value.message
        assert env.received() == {"a": 1}


async def test_weights_share_traffic_inside_a_tier(tmp_path: Path, fakes: Fakes) -> None:
    channels = [openai_channel("a", fakes["a"], weight=3), openai_channel("b", fakes["b"], weight=1),
                openai_channel("c", fakes["c"], weight=0)]
    async with routed(tmp_path, channels, fakes=fakes) as env:
        env.gw.runtime.rng = random.Random(20240)
        client = env.client()
        for _ in range(300):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        counts = env.received()
        assert counts["c"] == 0  # weight 0: only when the rest of its tier failed
        assert 195 <= counts["a"] <= 255, counts  # 225 expected; about ±4 standard deviations
        rows = await env.check_books()
        assert {name: sum(r.channel == name for r in rows) for name in "abc"} == counts


async def test_priority_tiers_go_first_whatever_the_weights(tmp_path: Path, fakes: Fakes) -> None:
    channels = [openai_channel("c", fakes["c"], priority=0, weight=100),  # file order does not matter
                openai_channel("b", fakes["b"], priority=5, weight=100),
                openai_channel("a", fakes["a"], priority=10, weight=1)]
    async with routed(tmp_path, channels, fakes=fakes) as env:
        for _ in range(20):
            assert (await env.ask())[0] == "answer from a"
        fakes["a"].script.fail(503)
        assert (await env.ask())[0] == "answer from b"  # the next tier, not the heavier bottom one
        assert env.received() == {"a": 21, "b": 1, "c": 0}
        fakes["b"].script.fail(502)  # a is cooling now: b first, then c
        assert (await env.ask())[0] == "answer from c"
        rows = await env.check_books()
        assert [(r.channel, r.attempts) for r in rows[-2:]] == [("b", 2), ("c", 2)]


async def test_api_channels_shows_state_and_config_but_no_key(env: Env, fakes: Fakes) -> None:
    import aiohttp

    fakes["a"].script.fail(500, error_message=f"boom with {fakes['a'].keys[0]} inside")
    await env.ask()
    async with aiohttp.ClientSession() as http:
        async with http.get(env.gw.url + "/api/channels") as resp:
            assert resp.status == 401
        async with http.get(env.gw.url + "/api/channels", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
    state = await env.channels()
    assert list(state) == ["a", "b"]
    a = state["a"]
    facts = (a["type"], a["priority"], a["weight"], a["enabled"], a["models"])
    assert facts == ("openai", 10, 1, True, ["gpt-*"])
    assert a["failures"] == 1 and a["successes"] == 0 and state["b"]["successes"] == 1
    assert a["recent_errors"][0]["message"].startswith("boom with ")
    assert state["b"]["latency_ms"] is not None
    dumped = repr(state)
    assert all(fake.keys[0] not in dumped for fake in fakes.values())
    assert fakes["a"].url not in dumped  # base URLs may carry credentials: left out



@pytest.mark.parametrize("proxy", ["socks5", "socks5h", "http", "hung socks5"])
async def test_a_channel_behind_a_proxy_answers_through_it(tmp_path: Path, fakes: Fakes,
                                                           proxy: str) -> None:
    from tests.routing.http_proxy import HttpProxy
    from tests.routing.socks5_server import Socks5Server

    server: Socks5Server | HttpProxy = (HttpProxy() if proxy == "http"
                                        else Socks5Server(stall=proxy == "hung socks5"))
    async with server:
        url = f"{proxy.split()[-1]}://127.0.0.1:{server.port}"
        channels = [openai_channel("a", fakes["a"], priority=10, proxy=url, timeouts={"connect": 0.3}),
                    openai_channel("b", fakes["b"])]
        async with routed(tmp_path, channels, fakes={"a": fakes["a"], "b": fakes["b"]}) as env:
            text, _ = await env.ask()
            [row] = await env.check_books()
    if proxy == "hung socks5":  # a proxy that never answers is a connect timeout: the next channel answers
        assert (text, row.channel, row.attempts) == ("answer from b", "b", 2)
        assert env.received() == {"a": 0, "b": 1}
        return
    assert (text, row.channel, row.attempts) == ("answer from a", "a", 1)
    assert env.received() == {"a": 1, "b": 0}
    if isinstance(server, HttpProxy):
        [forwarded] = server.forwarded
        assert forwarded.request_line == f"POST {fakes['a'].url}/v1/chat/completions HTTP/1.1"
    else:
        [tunnel] = server.tunnels
        assert tunnel.port == int(fakes["a"].url.rsplit(":", 1)[1])
        assert bytes(tunnel.sent).startswith(b"POST /v1/chat/completions ")
