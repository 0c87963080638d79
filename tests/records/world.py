"""A gateway in Asia/Shanghai days over two OpenAI fakes and an Anthropic fake, and a mixed run of calls
through it: successes, a failover, client and server failures, a refusal, a cancelled stream, three tokens,
several models and channels, plus rows written on either side of local midnight."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from gateway.ledger import LogQuery, LogRow
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.base import run_fake
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Tokens
from tests.harness import ADMIN_KEY, Gateway, channel, make_config, running_gateway, token
from tests.ops.process import chat, stream

ZONE = "Asia/Shanghai"
BOB = "sk-test-bob-records-1b1b1b"
CAROL = "sk-test-carol-records-2c2c2c"
# A local midnight long past, so that direct rows around it never mix with today's calls.
MIDNIGHT = datetime(2026, 1, 15, tzinfo=ZoneInfo(ZONE)).timestamp()


@dataclass
class World:
    gw: Gateway
    db: str
    session: aiohttp.ClientSession
    alpha: OpenAIFake
    beta: OpenAIFake

    async def get(self, path: str, *, key: str | None = ADMIN_KEY, headers: dict[str, str] | None = None,
                  query: dict[str, str] | None = None, **params: Any) -> tuple[int, Any]:
        """GET with `key` as a bearer; `query` carries parameters whose names clash with these."""
        params.update(query or {})
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        async with self.session.get(self.gw.url + path, params=params, headers=sent) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def rows(self) -> list[LogRow]:
        await self.gw.runtime.idle()
        page = await self.gw.runtime.ledger.logs(LogQuery(limit=1000))
        return [row for _, row in page.rows]


async def mixed_run(w: World, claude_url: str) -> None:
    url = w.gw.url
    w.alpha.script.reply(tokens=Tokens(input=1200, output=300, cached=200))
    assert (await chat(w.session, url))[0] == 200
    w.alpha.script.reply(tokens=Tokens(input=50, output=500, reasoning=40))
    async with stream(w.session, url, model="gpt-4o") as call:
        await call.read_to_end()
    w.alpha.script.fail(500)  # fails over to beta
    w.beta.script.reply(tokens=Tokens(input=700, output=70))
    assert (await chat(w.session, url))[0] == 200
    body = {"model": "claude-haiku-4-5-20251001", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    async with w.session.post(claude_url, json=body,
                              headers={"x-api-key": BOB, "anthropic-version": "2023-06-01"}) as resp:
        assert resp.status == 200, await resp.text()
    w.alpha.script.fail(400, error_message="bad request")  # a client error: no failover
    assert (await chat(w.session, url, key=BOB))[0] == 400
    assert (await chat(w.session, url, key=CAROL, model="dall-e-3"))[0] == 404  # no channel serves it
    w.alpha.script.fail(500)
    w.beta.script.fail(503)
    assert (await chat(w.session, url))[0] >= 500
    w.alpha.script.reply(text="one two three four five six", chunks=6, stall_after=(1, 5))
    async with stream(w.session, url) as call:
        await call.next_event()
        call.resp.close()  # the caller goes away mid-stream
    await w.gw.runtime.idle()
    ledger = w.gw.runtime.ledger
    for request_id, when, quota in (("night-before", MIDNIGHT - 1, 30), ("night-after", MIDNIGHT, 50)):
        await ledger.hold(request_id, "carol", None, 100)
        assert await ledger.settle(LogRow(request_id=request_id, token="carol", model="gpt-4o-mini",
                                          channel="beta", time=when, status=200, quota=quota,
                                          request_time_ms=800, first_byte_ms=200))


@contextlib.asynccontextmanager
async def records_world(tmp_path: Path, fake_anthropic: AnthropicFake, *, run: bool = True
                        ) -> AsyncIterator[World]:
    alpha = OpenAIFake(keys=["sk-fake-upstream-alpha-0001"])
    beta = OpenAIFake(keys=["sk-fake-upstream-beta-0002"])
    async with run_fake(alpha), run_fake(beta):
        config = make_config(
            tmp_path,
            channels=[channel("alpha", "openai", alpha.url, key=alpha.keys[0], models=["gpt-*"], priority=10),
                      channel("beta", "openai", beta.url, key=beta.keys[0], models=["gpt-*"]),
                      channel("claude", "anthropic", fake_anthropic.url, key=fake_anthropic.keys[0],
                              models=["claude-*"])],
            tokens=[token("alice"), token("bob", key=BOB, quota=None),
                    token("carol", key=CAROL, quota="$1", models=["gpt-*", "dall-e-*"])],
            server={"admin_key": ADMIN_KEY, "timezone": ZONE},
            routing={"retries": 2, "cooldown_seconds": 0},
        )
        async with running_gateway(config) as gw, aiohttp.ClientSession() as session:
            world = World(gw, config.database.path, session, alpha, beta)
            if run:
                await mixed_run(world, gw.url + "/claude/v1/messages")
            yield world

