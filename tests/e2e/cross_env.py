"""One gateway in front of all three fakes, for the cross-protocol SDK tests (SPEC §2, §6).

Every chat model name lives on exactly one channel type, so the model a caller names decides the
protocol its call is translated into: `gpt-*` → the OpenAI fake, `claude-*` → the Anthropic fake,
`gemini-*` → the Gemini fake. Each door also has an alias mapped to another upstream name, so that
`upstream_model` in the ledger is checked against something other than the requested name.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest_asyncio
from google import genai

from gateway.ledger.base import LogQuery, LogRow
from tests.fakes import AnthropicFake, GeminiFake, OpenAIFake
from tests.harness import CALLER_KEY, Gateway, channel, make_config, running_gateway

GPT, CLAUDE, GEMINI, REASONER = "gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash", "o4-mini"
# aliases: requested (and billed) name -> what the upstream is asked for
GPT_ALIAS, CLAUDE_ALIAS, GEMINI_ALIAS = "gpt-4o-mini-tools", "claude-smart", "gemini-fast"
OPENAI_EMBEDDER, GEMINI_EMBEDDER = "text-embedding-3-small", "text-embedding-004"

# A 1x1 transparent PNG: small enough to inline, real enough for any image decoder.
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
           "RU5ErkJggg==")
PNG_BYTES = base64.b64decode(PNG_B64)
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
TIME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"zone": {"type": "string"}},
                               "required": ["zone"]}


@dataclass
class Env:
    """The gateway, the three fakes behind it, and one SDK client of each kind (closed at teardown)."""

    gw: Gateway
    oa: OpenAIFake
    an: AnthropicFake
    ge: GeminiFake
    _clients: dict[str, Any] = field(default_factory=dict)

    def openai(self) -> openai.AsyncOpenAI:
        if "openai" not in self._clients:
            self._clients["openai"] = openai.AsyncOpenAI(base_url=self.gw.url + "/v1", api_key=CALLER_KEY,
                                                         max_retries=0)
        return self._clients["openai"]  # type: ignore[no-any-return]

    def claude(self) -> anthropic.AsyncAnthropic:
        if "claude" not in self._clients:
            self._clients["claude"] = anthropic.AsyncAnthropic(base_url=self.gw.url + "/claude", api_key=CALLER_KEY,
                                                               max_retries=0)
        return self._clients["claude"]  # type: ignore[no-any-return]

    def gemini(self) -> genai.client.AsyncClient:
        if "gemini" not in self._clients:
            self._clients["gemini"] = genai.Client(api_key=CALLER_KEY,
                                                   http_options={"base_url": self.gw.url + "/gemini"}).aio
        return self._clients["gemini"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        for name, client in self._clients.items():
            await (client.aclose() if name == "gemini" else client.close())

    async def rows(self) -> list[LogRow]:
        """Every ledger row, oldest first, once every call has settled."""
        await self.gw.runtime.idle()  # replies go out before their settlement is written
        page = await self.gw.runtime.ledger.logs(LogQuery(limit=1000))
        return [row for _, row in sorted(page.rows, key=lambda pair: pair[0])]

    async def books(self) -> list[LogRow]:
        """The rows, after checking that the token's used quota is the sum of its rows and nothing is held."""
        rows = await self.rows()
        for name, balance in (await self.gw.runtime.ledger.balances()).items():
            assert balance.used == sum(r.quota for r in rows if r.token == name), name
            assert balance.held == 0, name
        return rows


@pytest_asyncio.fixture(name="env")
async def cross_env(tmp_path: Path, fake_openai: OpenAIFake, fake_anthropic: AnthropicFake,
              fake_gemini: GeminiFake) -> AsyncIterator[Env]:
    channels = [
        channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0],
                models=["gpt-*", "o4-mini", "text-embedding-3-*"], model_map={GPT_ALIAS: GPT}),
        channel("an", "anthropic", fake_anthropic.url, key=fake_anthropic.keys[0], models=["claude-*"],
                model_map={CLAUDE_ALIAS: CLAUDE}),
        channel("ge", "gemini", fake_gemini.url, key=fake_gemini.keys[0],
                models=["gemini-*", "text-embedding-004"], model_map={GEMINI_ALIAS: GEMINI}),
    ]
    async with running_gateway(make_config(tmp_path, channels=channels)) as gw:
        env = Env(gw, fake_openai, fake_anthropic, fake_gemini)
        try:
            yield env
        finally:
            await env.close()


def usage_of(row: LogRow) -> tuple[str, str, int, int, int, int, int]:
    """What the cross tests compare on a ledger row: channel, upstream model, prompt, cached,
    completion and reasoning tokens, and the quota charged."""
    return (row.channel, row.upstream_model, row.prompt_tokens, row.cached_tokens, row.completion_tokens,
            row.reasoning_tokens, row.quota)


def dropped(headers: Any) -> set[str]:
    return {name for name in (headers.get("x-gateway-dropped") or "").split(",") if name}
