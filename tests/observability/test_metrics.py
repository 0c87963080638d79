"""`GET /metrics` on a running gateway: who may scrape, and the numbers moving as calls happen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from gateway.ledger.base import LogQuery
from gateway.reload import Reloader
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour, Tokens
from tests.harness import ADMIN_KEY, CALLER_KEY, channel, make_config, running_gateway, token
from tests.observability.helpers import chat, eventually, scrape, scrape_text, total, value
from tests.ops.process import config_data, write_config

POOR_KEY = "sk-test-poor-0000000"
NARROW_KEY = "sk-test-narrow-00000"


async def test_metrics_need_the_admin_key_unless_public_and_token_series_only_with_it(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    oa = channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])
    guarded = make_config(tmp_path, channels=[oa], metrics={"token_labels": True})
    async with running_gateway(guarded) as gw, aiohttp.ClientSession() as session:
        status, _, text = await scrape_text(session, gw, admin=False)
        assert status == 401 and "gateway_requests_total" not in text
        async with session.get(gw.url + "/metrics", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        assert (await chat(session, gw))[0] == 200
        status, content_type, text = await scrape_text(session, gw)
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        samples = await scrape(session, gw)
        assert value(samples, "gateway_token_requests_total", token="alice", outcome="ok") == 1
    public = make_config(tmp_path, channels=[oa], metrics={"token_labels": True, "public": True})
    async with running_gateway(public) as gw, aiohttp.ClientSession() as session:
        assert (await chat(session, gw))[0] == 200
        anonymous = await scrape(session, gw, admin=False)
        assert total(anonymous, "gateway_requests_total") == 1
        assert not [name for name, _ in anonymous if name.startswith("gateway_token_")]  # details: admin only
        assert value(await scrape(session, gw), "gateway_token_quota_charged_total", token="alice") > 0
    off = make_config(tmp_path, channels=[oa], metrics={"enabled": False})
    async with running_gateway(off) as gw, aiohttp.ClientSession() as session:
        assert (await scrape_text(session, gw))[0] == 404


async def test_counters_and_histograms_move_with_calls_and_match_the_ledger(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[
        channel("a", "openai", fake_openai.url, key=fake_openai.keys[0], models=["gpt-*"], priority=10),
        channel("b", "openai", fake_openai.url, key=fake_openai.keys[0], models=["gpt-*"], priority=0),
    ], tokens=[token("alice"), token("poor", key=POOR_KEY, quota=1),
               token("narrow", key=NARROW_KEY, models=["gpt-4o"])])
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        before = await scrape(session, gw)
        assert total(before, "gateway_requests_total") == 0
        fake_openai.script.reply(tokens=Tokens(input=100, output=20))
        fake_openai.script.reply(tokens=Tokens(input=50, output=10), chunks=4)
        fake_openai.script.fail(500).reply(tokens=Tokens(input=10, output=5))  # a fails, b answers
        assert (await chat(session, gw))[0] == 200
        assert (await chat(session, gw, stream=True, stream_options={"include_usage": True}))[0] == 200
        assert (await chat(session, gw))[0] == 200
        assert (await chat(session, gw, key=POOR_KEY))[0] == 429  # quota: refused before any upstream
        assert (await chat(session, gw, model="gpt-nonexistent-zz"))[0] == 404  # the upstream's 404
        assert (await chat(session, gw, key=NARROW_KEY))[0] == 403  # refused at the door: still a row
        async with session.post(gw.url + "/claude/v1/messages/count_tokens", headers={"x-api-key": CALLER_KEY},
                                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
                                ) as counted:
            assert counted.status == 200  # free, answered from the gateway's estimate: still one row
        after = await scrape(session, gw)
        assert value(after, "gateway_requests_total", door="anthropic", model="gpt-4o-mini", channel="",
                     endpoint="count_tokens", outcome="ok", status_class="2xx") == 1
        ok_a = value(after, "gateway_requests_total", door="openai", model="gpt-4o-mini", channel="a",
                     endpoint="chat", outcome="ok", status_class="2xx")
        ok_b = value(after, "gateway_requests_total", door="openai", model="gpt-4o-mini", channel="b",
                     endpoint="chat", outcome="ok", status_class="2xx")
        assert (ok_a, ok_b) == (2, 1)
        assert value(after, "gateway_requests_total", door="openai", model="gpt-4o-mini", channel="",
                     endpoint="chat", outcome="error", status_class="4xx") == 2  # quota, model rights
        page = await gw.runtime.ledger.logs(LogQuery(limit=100))
        assert total(after, "gateway_requests_total") == len(page.rows)  # one per log row
        # a model the configuration does not name and no upstream served: counted, not a new label
        assert value(after, "gateway_requests_total", door="openai", model="other", channel="a",
                     endpoint="chat", outcome="error", status_class="4xx") == 1
        assert not [1 for (name, labels) in after if ("model", "gpt-nonexistent-zz") in labels]
        assert value(after, "gateway_upstream_failures_total", channel="a", status_class="5xx") == 1
        assert value(after, "gateway_failovers_total") == 1
        assert value(after, "gateway_upstream_attempts_total") == 5
        page = await gw.runtime.ledger.logs(LogQuery(limit=100))
        charged = sum(row.quota for _, row in page.rows)
        assert charged > 0 and total(after, "gateway_quota_charged_total") == charged
        assert value(after, "gateway_usage_tokens_total", model="gpt-4o-mini", kind="prompt") == 160
        assert value(after, "gateway_usage_tokens_total", model="gpt-4o-mini", kind="completion") == 35
        assert total(after, "gateway_request_duration_seconds_count") == 4  # the calls that took a hold
        assert total(after, "gateway_time_to_first_byte_seconds_count") == 3
        assert value(after, "gateway_overhead_seconds_count", door="openai") == 4  # calls that reached upstream
        assert value(after, "gateway_calls_in_flight") == 0 and value(after, "gateway_quota_held") == 0
        assert value(after, "gateway_channel_keys_usable", channel="a") == 1
        assert value(after, "gateway_channel_cooling_models", channel="a") == 1  # after its 500


async def test_in_flight_and_held_quota_while_a_call_waits_on_its_upstream(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        fake_openai.script.push(Behaviour(stall_before_headers=0.6))
        call = asyncio.create_task(chat(session, gw))
        await eventually(lambda: bool(fake_openai.requests))
        _, _, text = await scrape_text(session, gw)
        assert "gateway_calls_in_flight 1.0" in text
        held = [line for line in text.splitlines() if line.startswith("gateway_quota_held ")]
        assert held and float(held[0].split()[1]) > 0
        assert (await call)[0] == 200
        after = await scrape(session, gw)
        assert value(after, "gateway_calls_in_flight") == 0 and value(after, "gateway_quota_held") == 0


async def test_keys_set_aside_and_reloads_are_counted(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    path = tmp_path / "gateway.yaml"
    data = config_data(tmp_path / "l.db", [channel("oa", "openai", fake_openai.url,
                                                   key="sk-wrong-upstream-key-1")])
    write_config(path, data)
    config = make_config(tmp_path, channels=data["channels"])
    async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
        gw.runtime.reloader = Reloader(gw.runtime, path)
        assert (await chat(session, gw))[0] == 503  # the only key is refused: set aside
        samples = await scrape(session, gw)
        assert value(samples, "gateway_channel_keys_set_aside", channel="oa") == 1
        assert value(samples, "gateway_channel_keys_usable", channel="oa") == 0
        assert value(samples, "gateway_upstream_failures_total", channel="oa", status_class="4xx") == 1
        write_config(path, "channels: [oops")
        async with session.post(gw.url + "/api/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
            assert r.status == 422
        data["channels"] = [channel("fixed", "openai", fake_openai.url, key=fake_openai.keys[0])]
        write_config(path, data)
        assert (await gw.runtime.reloader.reload("api")).ok
        samples = await scrape(session, gw)
        assert value(samples, "gateway_config_reloads_total", result="failed") == 1
        assert value(samples, "gateway_config_reloads_total", result="ok") == 1
        assert value(samples, "gateway_channel_keys_usable", channel="fixed") == 1
        assert not [1 for (name, labels) in samples
                    if name == "gateway_channel_keys_usable" and ("channel", "oa") in labels]
