"""A gateway in front of one fake upstream per protocol, for the bad-input tests at the three doors.

`doors()` starts it (a test module shares one); `DoorEnv.post` sends raw bytes with raw headers through
aiohttp, `raw_http` speaks HTTP/1.1 over a bare socket (framing cases). Around each call a `Snapshot`
tells what the call caused: `refused` checks an authenticated refusal (nothing upstream, one plain
row), `untouched` one that must write nothing at all, and `check_books` that every hold was closed
exactly once and the ledger adds up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from gateway.ledger.base import LogQuery, LogRow
from gateway.protocols import Protocol
from tests.e2e.routing_env import Books
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.base import FakeUpstream, RecordedRequest, run_fake
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, Gateway, channel, make_config, running_gateway, token

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
DOORS = (OPENAI, ANTHROPIC, GEMINI)
MODELS = {OPENAI: "gpt-4o-mini", ANTHROPIC: "claude-sonnet-4-6", GEMINI: "gemini-2.5-flash"}
UPSTREAM_KEYS = {OPENAI: "sk-upstream-door-openai-01", ANTHROPIC: "sk-ant-upstream-door-02",
                 GEMINI: "AIzaUpstreamDoorGemini03xxxxxxxxxxxx"}
PATHS = {OPENAI: "/v1/chat/completions", ANTHROPIC: "/claude/v1/messages",
         GEMINI: "/gemini/v1beta/models/gemini-2.5-flash:generateContent"}
# Tokens beside alice (CALLER_KEY): one per refusal the doors make.
BOB = "sk-door-bob-only-gpt-4o"  # may use gpt-4o only
OFF = "sk-door-disabled-000001"
OLD = "sk-door-expired-0000001"
FAR = "sk-door-from-10-net-0001"  # allowed from 10.0.0.0/8 only
NEAR = "sk-door-from-loopback-01"  # allowed from 127.0.0.1 only


def auth(door: Protocol, key: str = CALLER_KEY) -> dict[str, str]:
    """The key in the header the door's SDK uses."""
    if door is OPENAI:
        return {"Authorization": f"Bearer {key}"}
    if door is ANTHROPIC:
        return {"x-api-key": key, "anthropic-version": "2023-06-01"}
    return {"x-goog-api-key": key}


def chat_body(door: Protocol, *, model: str | None = None, max_tokens: int = 64, text: str = "Say hi"
              ) -> dict[str, Any]:
    """A valid chat body for `door` (Gemini names its model in the URL)."""
    if door is OPENAI:
        return {"model": model or MODELS[OPENAI], "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}]}
    if door is ANTHROPIC:
        return {"model": model or MODELS[ANTHROPIC], "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}]}
    return {"contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": {"maxOutputTokens": max_tokens}}


def error_kind(door: Protocol, body: Any) -> str:
    """The protocol's error type (OpenAI/Anthropic) or status name (Gemini); asserts the exact shape
    of SPEC §7 and that no traceback leaked into it."""
    assert "Traceback" not in json.dumps(body)
    if door is OPENAI:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
        return str(body["error"]["type"])
    if door is ANTHROPIC:
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"}, body
        return str(body["error"]["type"])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}, body
    return str(body["error"]["status"])


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    closed: bool  # the server closed the connection after answering (checked only when expected)


@dataclass(frozen=True)
class Snapshot:
    """How far the fakes and the ledger had got before a call (tests share one gateway per module)."""

    sent: dict[Protocol, int]
    writes: int  # request ids the ledger had been asked to write for


@dataclass
class DoorEnv:
    gw: Gateway
    books: Books
    fakes: dict[Protocol, FakeUpstream]

    @property
    def url(self) -> str:
        return self.gw.url

    def snapshot(self) -> Snapshot:
        return Snapshot({p: len(f.requests) for p, f in self.fakes.items()}, len(self.books.calls))

    def sent_since(self, snap: Snapshot, door: Protocol) -> list[RecordedRequest]:
        return self.fakes[door].requests[snap.sent[door]:]

    def upstream_calls_since(self, snap: Snapshot) -> int:
        return sum(len(self.sent_since(snap, p)) for p in self.fakes)

    async def post(self, path: str, body: bytes | dict[str, Any] | None, headers: dict[str, str], *,
                   method: str = "POST") -> Reply:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if data is not None and not any(name.lower() == "content-type" for name in headers):
            headers = {"Content-Type": "application/json", **headers}
        async with aiohttp.ClientSession(auto_decompress=False) as http, http.request(
                method, URL(self.url + path, encoded=True), data=data, headers=headers) as resp:
            return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())

    async def rows(self) -> list[LogRow]:
        await self.gw.runtime.idle()  # replies go out before their settlement is written
        page = await self.gw.runtime.ledger.logs(LogQuery(limit=10_000))
        return [row for _, row in reversed(page.rows)]

    async def check_books(self) -> list[LogRow]:
        """No hold open; a refused call wrote one plain row, an admitted one a hold closed exactly once;
        used == Σ quota for every token. Returns the rows, oldest first."""
        rows = await self.rows()
        assert len({row.request_id for row in rows}) == len(rows)
        for row in rows:
            calls = self.books.calls[row.request_id]
            # ["hold", "log"]: the hold was refused (quota), so the refusal is a plain row
            assert calls in (["log"], ["hold", "log"], ["hold", "settle:True"], ["hold", "release:True"]), calls
            if calls[-1] != "settle:True":
                assert row.quota == 0
        assert set(self.books.calls) == {row.request_id for row in rows}, "a ledger write without a row"
        for name, balance in (await self.gw.runtime.ledger.balances()).items():
            assert balance.held == 0, name
            assert balance.used == sum(r.quota for r in rows if r.token == name), name
        return rows

    async def row(self, request_id: str) -> LogRow:
        """The one row of a call, after checking the whole ledger adds up."""
        [row] = [r for r in await self.check_books() if r.request_id == request_id]
        return row

    async def refused(self, snap: Snapshot, reply: Reply | RawReply, status: int) -> LogRow:
        """A call refused after authentication: nothing went upstream, no hold stayed, one plain row."""
        assert reply.status == status, reply.body[:300]
        assert self.upstream_calls_since(snap) == 0
        row = await self.row(reply.headers["x-request-id"])
        assert (row.status, row.outcome, row.quota, row.channel) == (status, "error", 0, ""), row
        assert self.books.calls[row.request_id] in (["log"], ["hold", "log"])
        return row

    async def untouched(self, snap: Snapshot) -> None:
        """Nothing went upstream and nothing was written (an unauthenticated or unparsable request)."""
        assert self.upstream_calls_since(snap) == 0
        await self.check_books()
        assert len(self.books.calls) == snap.writes, "the ledger was written to"


@contextlib.asynccontextmanager
async def doors(tmp_path: Path, *, tokens: list[dict[str, Any]] | None = None, **sections: Any
                ) -> AsyncIterator[DoorEnv]:
    """A gateway with a channel per protocol (models as in MODELS, plus embeddings), no failover."""
    fakes: dict[Protocol, FakeUpstream] = {
        OPENAI: OpenAIFake(keys=[UPSTREAM_KEYS[OPENAI]], seed=11),
        ANTHROPIC: AnthropicFake(keys=[UPSTREAM_KEYS[ANTHROPIC]], seed=12),
        GEMINI: GeminiFake(keys=[UPSTREAM_KEYS[GEMINI]], seed=13),
    }
    models = {OPENAI: ["gpt-*", "text-embedding-3-*"], ANTHROPIC: ["claude-*"],
              GEMINI: ["gemini-*", "text-embedding-004"]}
    async with contextlib.AsyncExitStack() as stack:
        for fake in fakes.values():
            await stack.enter_async_context(run_fake(fake))
        channels = [channel(p.value, p.value, fake.url, key=UPSTREAM_KEYS[p], models=models[p])
                    for p, fake in fakes.items()]
        config = make_config(tmp_path, channels=channels, tokens=tokens or default_tokens(),
                             routing={"retries": 0, "cooldown_seconds": 0}, **sections)
        gw = await stack.enter_async_context(running_gateway(config))
        books = Books(gw.runtime.ledger)
        gw.runtime.ledger = books  # type: ignore[assignment]
        yield DoorEnv(gw, books, fakes)


def default_tokens() -> list[dict[str, Any]]:
    return [token("alice"), token("bob", key=BOB, models=["gpt-4o"]), token("off", key=OFF, enabled=False),
            token("old", key=OLD, expires_at="2020-01-01T00:00:00Z"), token("far", key=FAR, ips=["10.0.0.0/8"]),
            token("near", key=NEAR, ips=["127.0.0.1/32"])]


async def raw_http(url: str, data: bytes, *, wait: float = 5.0, expect_close: bool = False) -> RawReply:
    """Send `data` as is over a fresh socket and read one response; with `expect_close`, also whether
    the server then closed the connection (waiting up to 2 s for it)."""
    target = URL(url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(wait):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length)
            closed = False
            if expect_close:
                with contextlib.suppress(TimeoutError):
                    closed = await asyncio.wait_for(reader.read(1), 2.0) == b""
        return RawReply(int(status_line.split(" ")[1]), headers, body, closed)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def http_request(path: str, headers: dict[str, str], body: bytes = b"", *, framing: str | None = None) -> bytes:
    """An HTTP/1.1 request as bytes; `framing` replaces the Content-Length line with its own lines."""
    lines = [f"POST {path} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append("Host: gateway.test")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(framing if framing is not None else f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
