"""Notifications through a running gateway to a real webhook receiver: signed, once per crossing, and
never in the way of a call, whatever the webhook does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.reload import Reloader
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour, Tokens
from tests.harness import channel, make_config, running_gateway, token
from tests.observability.helpers import chat, scrape, value
from tests.observability.webhook import Receiver, webhook_receiver
from tests.ops.process import config_data, write_config

SECRET = "whsec-test-3f9a1c77"
POOR_KEY = "sk-test-poor-0000000"
HOOK_TOKEN = "hooktoken-9b8c7d6e5f"


def signed_by(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def notify(receiver: Receiver, **settings: Any) -> dict[str, Any]:
    return {"webhooks": [{"url": receiver.url + "/ok", "secret": SECRET},
                         {"url": receiver.url + "/reloads", "events": ["reload_failed"]}],
            "retry_delay_seconds": 0.05, **settings}


async def test_low_and_exhausted_quota_arrive_signed_once_per_crossing(tmp_path: Path,
                                                                       fake_openai: OpenAIFake) -> None:
    async with webhook_receiver() as receiver:
        config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                             tokens=[token("alice", quota=1000), token("rich", key=POOR_KEY, quota=10**9)],
                             notify=notify(receiver, below={"percent": 50}))
        # gpt-4o-mini: 1000 in + 1000 out = 0.00075 USD = 375 quota per call
        fake_openai.script.default = Behaviour(tokens=Tokens(input=1000, output=1000))
        async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
            assert (await chat(session, gw, max_tokens=50))[0] == 200  # 625 left: 62.5 %
            await gw.runtime.idle()
            await asyncio.sleep(0.1)
            assert receiver.received == []
            assert (await chat(session, gw, max_tokens=50))[0] == 200  # 250 left: below 50 %
            assert (await chat(session, gw, key=POOR_KEY, max_tokens=50))[0] == 200  # far above its line
            [low] = await receiver.wait_for(1)
            assert low.json["event"] == "token_low" and low.headers["X-Gateway-Event"] == "token_low"
            assert low.json["data"]["token"] == "alice" and low.json["data"]["remaining"] == 250
            assert low.json["data"]["crossed"] == ["percent"] and "alice" in low.json["text"]
            assert signed_by(SECRET, low.body, low.headers["X-Gateway-Signature"])
            assert low.headers["Content-Type"] == "application/json"
            assert (await chat(session, gw, max_tokens=50))[0] == 200  # still below: no second token_low
            for _ in range(3):
                assert (await chat(session, gw, max_tokens=50))[0] == 429  # quota gone: refused
            await receiver.wait_for(2)
            await asyncio.sleep(0.2)
            assert receiver.events() == ["token_low", "token_exhausted"]
            exhausted = receiver.on("/ok")[1]
            assert exhausted.json["data"] == {"token": "alice", "grant": 1000}
            assert signed_by(SECRET, exhausted.body, exhausted.headers["X-Gateway-Signature"])
            assert receiver.on("/reloads") == []  # that webhook asked for reload failures only
            samples = await scrape(session, gw)
            assert value(samples, "gateway_notifications_total", event="token_low", result="delivered") == 1


async def test_channel_set_aside_then_recovered_by_a_reload_and_a_failed_reload(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    async with webhook_receiver() as receiver:
        path = tmp_path / "gateway.yaml"
        broken = channel("oa", "openai", fake_openai.url, key="sk-revoked-upstream-key-1")
        data = config_data(tmp_path / "gateway.db", [broken])
        data["notify"] = notify(receiver)
        write_config(path, data)
        config = make_config(tmp_path, channels=[broken], notify=data["notify"])
        async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
            gw.runtime.reloader = Reloader(gw.runtime, path)
            assert (await chat(session, gw))[0] == 503
            assert (await chat(session, gw))[0] == 503  # set aside already: no new refusal, no repeat
            await receiver.wait_for(2)
            write_config(path, "tokens: [")
            assert not (await gw.runtime.reloader.reload("api")).ok
            [failed] = await receiver.wait_for(1, "/reloads")
            assert failed.json["event"] == "reload_failed" and failed.json["data"]["trigger"] == "api"
            assert "X-Gateway-Signature" not in failed.headers  # that webhook has no secret
            data["channels"] = [channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])]
            write_config(path, data)
            assert (await gw.runtime.reloader.reload("api")).ok
            await receiver.wait_for(4)
            assert receiver.events() == ["key_set_aside", "channel_set_aside", "reload_failed",
                                         "channel_recovered"]
            assert receiver.on("/ok")[3].json["data"] == {"channel": "oa", "reason": "reload"}
            assert "sk-revoked" not in json.dumps([r.json for r in receiver.received])
            assert (await chat(session, gw))[0] == 200


async def test_a_webhook_that_hangs_or_fails_changes_nothing_for_callers(tmp_path: Path,
                                                                         fake_openai: OpenAIFake) -> None:
    logs = io.StringIO()
    async with webhook_receiver() as receiver:
        path = tmp_path / "gateway.yaml"
        write_config(path, "not: [valid")
        config = make_config(
            tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
            tokens=[token("alice"), token("poor", key=POOR_KEY, quota=1)],
            notify={"webhooks": [{"url": receiver.url + f"/fail?token={HOOK_TOKEN}", "secret": SECRET,
                                  "events": ["token_exhausted"]},
                                 {"url": receiver.url + "/hang"}],
                    "timeout_seconds": 30, "attempts": 3, "retry_delay_seconds": 0.05, "queue_size": 4})
        async with running_gateway(config, configure_logging=True, log_stream=logs) as gw, \
                aiohttp.ClientSession() as session:
            gw.runtime.reloader = Reloader(gw.runtime, path)
            assert (await chat(session, gw, key=POOR_KEY))[0] == 429  # token_exhausted to both webhooks
            await receiver.wait_for(3, "/fail")  # three attempts, each answered 500
            await receiver.wait_for(1, "/hang")  # ...and the other delivery is stuck for 30 s
            started = time.monotonic()
            results = await asyncio.gather(*[chat(session, gw) for _ in range(10)])
            assert [status for status, _, _ in results] == [200] * 10
            assert time.monotonic() - started < 2  # the fake answers at once; nothing waits on webhooks
            for _ in range(20):  # far more events than the queue holds, while the sender is stuck
                assert not (await gw.runtime.reloader.reload("api")).ok
            assert gw.runtime.notifier.queued == 4
            assert gw.runtime.notifier.dropped == 16
            samples = await scrape(session, gw)
            assert value(samples, "gateway_notifications_dropped_total") == 16
            assert value(samples, "gateway_notifications_total", event="token_exhausted", result="failed") == 1
            assert (await chat(session, gw))[0] == 200
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    attempts = [line for line in lines if line["event"] == "notification_failed" and line["status"] == 500]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert {a["host"] for a in attempts} == {receiver.url.removeprefix("http://")}
    assert HOOK_TOKEN not in logs.getvalue() and SECRET not in logs.getvalue()
    assert "/fail" not in logs.getvalue()  # the host only: paths carry tokens too
