"""A gateway with a history for the dashboard to show: three channels on the three fakes, four tokens,
real calls made today through the official SDKs, and two weeks of earlier calls written to its ledger.

The earlier days go through the ledger's own hold and settle (the calls could not have been made on
those days), so that the daily charts have something to draw; every number the page shows still comes
from the gateway's APIs.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import anthropic
import openai
import pytest_asyncio
from google import genai

from gateway.ledger.base import LogRow, Outcome
from tests.fakes import AnthropicFake, GeminiFake, OpenAIFake
from tests.fakes.script import Behaviour, Tokens
from tests.harness import ADMIN_KEY, Gateway, channel, make_config, running_gateway, token

ALICE_KEY = "sk-dash-alice-5c1f0e7a"
WEB_KEY = "sk-dash-webapp-91b2d4c8"
BATCH_KEY = "sk-dash-batch-3e8a7f10"
EVAL_KEY = "sk-dash-evals-77aa01bc"
REVOKED_UPSTREAM_KEY = "sk-upstream-revoked-0000"
GPT, CLAUDE, GEMINI = "gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"
HISTORY_DAYS = 13
# (token, model, channel, protocol, typical calls a day, prompt tokens, output tokens)
HISTORY = [
    ("web-app", CLAUDE, "anthropic", "anthropic", 5, 1800, 420),
    ("web-app", GPT, "openai-main", "openai", 7, 900, 260),
    ("batch-jobs", GEMINI, "gemini", "gemini", 6, 6000, 700),
    ("batch-jobs", GPT, "openai-main", "openai", 3, 3000, 500),
    ("alice", GPT, "openai-main", "openai", 3, 1200, 300),
    ("alice", CLAUDE, "anthropic", "anthropic", 1, 2500, 900),
    ("evals", "gpt-4o", "openai-main", "openai", 2, 4000, 1200),
]


@dataclass
class Dashboard:
    gw: Gateway
    oa: OpenAIFake
    an: AnthropicFake
    ge: GeminiFake
    today: dict[str, int] = field(default_factory=dict)  # requests made today through the SDKs, per model

    @property
    def url(self) -> str:
        return self.gw.url + "/dashboard"

    async def api(self, path: str, key: str = ADMIN_KEY, **params: Any) -> Any:
        """What the page's APIs answer, read here independently of the page."""
        async with aiohttp.ClientSession() as session, session.get(
                self.gw.url + path, params={k: str(v) for k, v in params.items()},
                headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def _config(tmp_path: Path, oa: OpenAIFake, an: AnthropicFake, ge: GeminiFake) -> Any:
    return make_config(
        tmp_path,
        channels=[
            channel("openai-main", "openai", oa.url, models=["gpt-*"], priority=10,
                    keys=[REVOKED_UPSTREAM_KEY, oa.keys[0]]),
            channel("anthropic", "anthropic", an.url, key=an.keys[0], models=["claude-*"]),
            channel("gemini", "gemini", ge.url, key=ge.keys[0], models=["gemini-*"]),
        ],
        tokens=[token("alice", key=ALICE_KEY, quota="$0.32"), token("web-app", key=WEB_KEY, quota="$1"),
                token("batch-jobs", key=BATCH_KEY, quota=None), token("evals", key=EVAL_KEY, quota="$0.15")],
        billing={"quota_per_usd": 500000})


async def _real_calls(d: Dashboard) -> None:
    """Today's calls, through each door's official SDK."""
    gpt = openai.AsyncOpenAI(base_url=d.gw.url + "/v1", api_key=ALICE_KEY, max_retries=0)
    d.oa.script.default = Behaviour(tokens=Tokens(input=1200, output=350))
    for _ in range(3):
        await gpt.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "Hello"}])
    stream = await gpt.chat.completions.create(model=GPT, messages=[{"role": "user", "content": "Stream"}],
                                               stream=True)
    async for _ in stream:
        pass
    d.today[GPT] = 4

    claude = anthropic.AsyncAnthropic(base_url=d.gw.url + "/claude", api_key=WEB_KEY, max_retries=0)
    for _ in range(2):
        d.an.script.reply(tokens=Tokens(input=2000, output=600))
        await claude.messages.create(model=CLAUDE, max_tokens=800, messages=[{"role": "user", "content": "Hi"}])
    d.an.script.fail(500, error_message="upstream overloaded, try again later")
    try:
        await claude.messages.create(model=CLAUDE, max_tokens=800, messages=[{"role": "user", "content": "Hi"}])
    except anthropic.APIStatusError:
        pass
    else:
        raise AssertionError("the scripted upstream failure did not reach the caller")
    d.today[CLAUDE] = 3

    gemini = genai.Client(api_key=BATCH_KEY, http_options={"base_url": d.gw.url + "/gemini"}).aio
    for _ in range(2):
        d.ge.script.reply(tokens=Tokens(input=5000, output=800))
        await gemini.models.generate_content(model=GEMINI, contents="Summarise this")
    d.today[GEMINI] = 2
    await d.gw.runtime.idle()


async def _history(d: Dashboard, now: float) -> None:
    """Earlier days, settled through the ledger as the pipeline would (hold, then settle at cost)."""
    ledger = d.gw.runtime.ledger
    grants = {t.name: t.grant for t in d.gw.runtime.config.tokens}
    rng = random.Random(20260131)
    zone = ZoneInfo(d.gw.runtime.config.server.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    for days_ago in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=days_ago)
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()  # so today holds only the SDK calls
        weekday_factor = 0.45 if days_ago % 7 in (2, 3) else 1.0  # a quieter weekend
        for name, model, channel_name, protocol, calls, prompt, output in HISTORY:
            for _ in range(max(0, round(calls * weekday_factor * rng.uniform(0.6, 1.4)))):
                request_id = uuid.uuid4().hex
                p = int(prompt * rng.uniform(0.5, 1.5))
                o = int(output * rng.uniform(0.5, 1.5))
                per_million = {GPT: (0.15, 0.6), CLAUDE: (3.0, 15.0), GEMINI: (1.25, 10.0)}.get(model, (1.0, 2.0))
                quota = round((p * per_million[0] + o * per_million[1]) / 1e6 * 500000)
                failed = rng.random() < 0.04
                await ledger.hold(request_id, name, grants[name], quota, model=model)
                row = LogRow(request_id=request_id, token=name, model=model, upstream_model=model,
                             time=midnight + rng.uniform(3600, 82800), channel=channel_name,
                             protocol=protocol, endpoint="chat", status=502 if failed else 200,
                             outcome=Outcome.ERROR if failed else Outcome.OK,
                             prompt_tokens=0 if failed else p, completion_tokens=0 if failed else o,
                             quota=0 if failed else quota,
                             request_time_ms=int(rng.lognormvariate(6.6 if model != GEMINI else 7.1, 0.35)),
                             error="upstream 502 Bad Gateway" if failed else "")
                if failed:
                    await ledger.release(row)
                else:
                    await ledger.settle(row)


@pytest_asyncio.fixture
async def dashboard(tmp_path: Path, fake_openai: OpenAIFake, fake_anthropic: AnthropicFake,
                    fake_gemini: GeminiFake) -> AsyncIterator[Dashboard]:
    config = _config(tmp_path, fake_openai, fake_anthropic, fake_gemini)
    async with running_gateway(config) as gw:
        d = Dashboard(gw=gw, oa=fake_openai, an=fake_anthropic, ge=fake_gemini)
        await _history(d, time.time())
        await _real_calls(d)
        yield d
