"""A gateway in front of several fake upstreams for the routing tests: a ledger that counts each call's
holds and settlements, a clock the test moves, and helpers to call through the official openai SDK."""

from __future__ import annotations

import contextlib
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai

from gateway.ledger.base import Ledger, LogQuery, LogRow
from tests.fakes.base import run_fake
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour
from tests.harness import ADMIN_KEY, CALLER_KEY, Gateway, channel, make_config, running_gateway, token

PICKER_KEY = "sk-test-picker-5d1e8a"  # a token allowed to choose its channel
MESSAGES = [{"role": "user", "content": "Say hello"}]


class Books:
    """The gateway's real ledger, recording which writes each request id received and how they went."""

    REFUSED: tuple[list[str], ...] = (["log"],)  # what a call refused before any hold records

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.calls: dict[str, list[str]] = defaultdict(list)

    async def hold(self, request_id: str, *args: Any, **kwargs: Any) -> None:
        self.calls[request_id].append("hold")
        await self.inner.hold(request_id, *args, **kwargs)

    async def settle(self, row: LogRow) -> bool:
        done = await self.inner.settle(row)
        self.calls[row.request_id].append(f"settle:{done}")
        return done

    async def release(self, row: LogRow) -> bool:
        done = await self.inner.release(row)
        self.calls[row.request_id].append(f"release:{done}")
        return done

    async def log(self, row: LogRow) -> None:
        self.calls[row.request_id].append("log")
        await self.inner.log(row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def ledger_rows(gw: Gateway) -> list[LogRow]:
    """Every log row, oldest first, once the calls in flight have written theirs."""
    await gw.runtime.idle()  # replies go out before their settlement is written
    page = await gw.runtime.ledger.logs(LogQuery(limit=1000))
    return [row for _, row in reversed(page.rows)]


async def checked_books(gw: Gateway, books: Books) -> list[LogRow]:
    """Every call: one hold closed exactly once (or one plain row when refused before a hold, as
    `books.REFUSED` lists it); used == Σ quota per token; no hold left open. The rows, oldest first."""
    rows = await ledger_rows(gw)
    for row in rows:
        calls = books.calls[row.request_id]
        if calls in books.REFUSED:
            assert row.quota == 0
            continue
        assert calls in (["hold", "settle:True"], ["hold", "release:True"]), (row.request_id, calls)
        if calls[1].startswith("release"):
            assert row.quota == 0
    assert len({row.request_id for row in rows}) == len(rows)
    for name, balance in (await gw.runtime.ledger.balances()).items():
        assert balance.used == sum(r.quota for r in rows if r.token == name), name
        assert balance.held == 0, name
    return rows


class Clock:
    """Wall clock for the gateway's routing state, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    gw: Gateway
    books: Books
    clock: Clock
    fakes: dict[str, OpenAIFake] = field(default_factory=dict)

    def client(self, key: str = CALLER_KEY, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.gw.url + "/v1", api_key=key, max_retries=0, **options)

    def claude(self, key: str = CALLER_KEY) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.gw.url + "/claude", api_key=key, max_retries=0)

    async def ask(self, key: str = CALLER_KEY, *, model: str = "gpt-4o-mini",
                  headers: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
        """One non-streamed chat call: the answer's text and the response headers."""
        raw = await self.client(key).chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, extra_headers=headers)
        return raw.parse().choices[0].message.content or "", dict(raw.headers)

    async def rows(self) -> list[LogRow]:
        return await ledger_rows(self.gw)

    async def check_books(self) -> list[LogRow]:
        """Every call: one hold closed once (or, refused before a hold, one plain row); used == Σ quota."""
        return await checked_books(self.gw, self.books)

    async def channels(self) -> dict[str, dict[str, Any]]:
        """`GET /api/channels`, by channel name."""
        async with aiohttp.ClientSession() as http, http.get(
                self.gw.url + "/api/channels", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
            assert resp.status == 200
            return {entry["name"]: entry for entry in (await resp.json())["data"]}

    def received(self) -> dict[str, int]:
        """How many requests each fake upstream got."""
        return {name: len(fake.requests) for name, fake in self.fakes.items()}


def openai_channel(name: str, fake: OpenAIFake, *, models: list[str] | None = None,
                   **extra: Any) -> dict[str, Any]:
    return channel(name, "openai", fake.url, key=fake.keys[0], models=models or ["gpt-*"], **extra)


def closed_port_url() -> str:
    """An address where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def openai_fakes(*names: str) -> AsyncIterator[dict[str, OpenAIFake]]:
    """Running fake OpenAI upstreams, each with its own key and answering "answer from NAME"."""
    fakes = {name: OpenAIFake(keys=[f"sk-fake-upstream-{name}-{index:04d}"])
             for index, name in enumerate(names)}
    async with contextlib.AsyncExitStack() as stack:
        for name, fake in fakes.items():
            await stack.enter_async_context(run_fake(fake))
            fake.script.default = Behaviour(text=f"answer from {name}")
        yield fakes


@contextlib.asynccontextmanager
async def routed(tmp_path: Path, channels: list[dict[str, Any]], *,
                 fakes: dict[str, OpenAIFake] | None = None, **sections: Any) -> AsyncIterator[Env]:
    """A gateway over `channels` with tokens alice (no channel choice) and picker (may choose)."""
    config = make_config(tmp_path, channels=channels,
                         tokens=[token("alice"), token("picker", key=PICKER_KEY, channel_select=True)],
                         **sections)
    async with running_gateway(config) as gw:
        books = Books(gw.runtime.ledger)
        clock = Clock()
        gw.runtime.ledger = books  # type: ignore[assignment]
        gw.runtime.clock = clock
        yield Env(gw, books, clock, dict(fakes or {}))
