"""A gateway in front of one fake upstream per protocol, for the fault, client and ledger tests.

Every door can reach every channel: a model names its channel (`MODELS`), the door names the caller's
protocol, so the same call is passed through (door == channel) or translated. Calls are made with raw
aiohttp so that status, headers, body bytes and every SSE event the caller got can be asserted on.
`World.check_books` proves each call's hold was closed exactly once and the ledger adds up.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config.models import GatewayConfig
from gateway.ledger.base import Ledger, LogRow
from gateway.protocols import Protocol
from gateway.protocols.sse import Decoder, Event
from tests.e2e.routing_env import Books, checked_books, ledger_rows
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.base import FakeUpstream, run_fake
from tests.fakes.gemini import GeminiFake
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, Gateway, channel, make_config, running_gateway, token

OPENAI, ANTHROPIC, GEMINI = Protocol.OPENAI, Protocol.ANTHROPIC, Protocol.GEMINI
PROTOCOLS = (OPENAI, ANTHROPIC, GEMINI)
# The model that routes to each channel.
MODELS = {OPENAI: "gpt-4o-mini", ANTHROPIC: "claude-sonnet-4-6", GEMINI: "gemini-2.5-flash"}
UPSTREAM_KEYS = {OPENAI: "sk-upstream-openai-key-0001", ANTHROPIC: "sk-ant-upstream-key-0002",
                 GEMINI: "AIzaSyD4kqW9SENTINELgem1n1Zx7Qp0Lr5Tb8Vc"}
PROMPT = "Say hello"
# (door, channel) pairs: each protocol passed through, and each translated direction once.
PAIRS = [(OPENAI, OPENAI), (ANTHROPIC, ANTHROPIC), (GEMINI, GEMINI),
         (OPENAI, ANTHROPIC), (ANTHROPIC, GEMINI), (GEMINI, OPENAI)]


def pair_id(pair: tuple[Protocol, Protocol]) -> str:
    return f"{pair[0].value}>{pair[1].value}"


@dataclass
class Reply:
    """What the caller received."""

    status: int
    headers: dict[str, str]
    body: bytes
    events: list[Event] = field(default_factory=list)  # the SSE events, for a stream

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self, door: Protocol) -> str:
        """The generated text the caller could read out of the events (stream) or body."""
        if self.events:
            return "".join(_event_text(door, e) for e in self.events)
        return _body_text(door, self.json())


def _event_text(door: Protocol, event: Event) -> str:
    try:
        data = json.loads(event.data)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if door is OPENAI:
        return "".join((c.get("delta") or {}).get("content") or "" for c in data.get("choices") or [])
    if door is ANTHROPIC:
        delta = data.get("delta") or {}
        return delta.get("text", "") if data.get("type") == "content_block_delta" else ""
    return _body_text(GEMINI, data)


def _body_text(door: Protocol, body: dict[str, Any]) -> str:
    if door is OPENAI:
        return "".join((c.get("message") or {}).get("content") or "" for c in body.get("choices") or [])
    if door is ANTHROPIC:
        return "".join(b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text")
    return "".join(p.get("text", "") for c in body.get("candidates") or []
                   for p in (c.get("content") or {}).get("parts") or [] if not p.get("thought"))


def terminal(door: Protocol, events: list[Event]) -> str:
    """How the caller's stream ended: "done" (the protocol's clean end), "error" (its error event), or
    "cut" (neither: the caller cannot tell the stream is incomplete)."""
    if not events:
        return "cut"
    last = events[-1]
    if door is OPENAI:
        if last.data == "[DONE]":
            return "done"
        return "error" if "error" in json.loads(last.data) else "cut"
    if door is ANTHROPIC:
        return {"message_stop": "done", "error": "error"}.get(last.event or "", "cut")
    data = json.loads(last.data)
    if "error" in data:
        return "error"
    finished = any(c.get("finishReason") for c in data.get("candidates") or [])
    return "done" if finished else "cut"


def error_shape(door: Protocol, body: Any) -> tuple[int | None, str]:
    """(status in the body if the protocol has one, the protocol's error type/status name); asserts
    the body is the door's error shape (SPEC §7)."""
    if door is OPENAI:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
        return None, body["error"]["type"]
    if door is ANTHROPIC:
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        return None, body["error"]["type"]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}, body
    return body["error"]["code"], body["error"]["status"]


def request_for(door: Protocol, model: str, *, stream: bool, key: str = CALLER_KEY,
                max_tokens: int = 256, prompt: str = PROMPT) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, headers, body) of a chat call through `door`."""
    if door is OPENAI:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}],
                                "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
        return "/v1/chat/completions", {"Authorization": f"Bearer {key}"}, body
    if door is ANTHROPIC:
        body = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}]}
        if stream:
            body["stream"] = True
        return "/claude/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}, body
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": max_tokens}}
    return f"/gemini/v1beta/models/{model}:{method}", {"x-goog-api-key": key}, body


class Ledgerbook(Books):
    """`Books` that records a hold only once the ledger took it ("hold-refused" when it raised), so
    that a call refused at the hold reads ["hold-refused", "log"] and a lost ledger ["hold-refused"]."""

    REFUSED = (["log"], ["hold-refused", "log"])

    def __init__(self, inner: Ledger) -> None:
        super().__init__(inner)
        self.amounts: dict[str, int] = {}  # request id -> the hold it took

    async def hold(self, request_id: str, token: str, grant: int | None, amount: int, **kwargs: Any) -> None:
        try:
            await self.inner.hold(request_id, token, grant, amount, **kwargs)
        except Exception:
            self.calls[request_id].append("hold-refused")
            raise
        self.calls[request_id].append("hold")
        self.amounts[request_id] = amount


@dataclass
class World:
    gw: Gateway
    books: Ledgerbook
    fakes: dict[Protocol, FakeUpstream]

    @property
    def url(self) -> str:
        return self.gw.url

    def fake(self, protocol: Protocol) -> FakeUpstream:
        return self.fakes[protocol]

    async def call(self, door: Protocol, channel_type: Protocol, *, stream: bool, key: str = CALLER_KEY,
                   **options: Any) -> Reply:
        path, headers, body = request_for(door, MODELS[channel_type], stream=stream, key=key, **options)
        async with aiohttp.ClientSession() as http, http.post(self.url + path, json=body,
                                                              headers=headers) as resp:
            raw = await resp.read()
            reply = Reply(resp.status, dict(resp.headers), raw)
        if stream and resp.status == 200:
            decoder = Decoder()
            reply.events = decoder.feed(raw) + decoder.flush()
        return reply

    async def rows(self) -> list[LogRow]:
        return await ledger_rows(self.gw)

    async def check_books(self) -> list[LogRow]:
        """Every call: one hold closed exactly once (or one plain row when refused before a hold);
        used == Σ quota per token; no hold left open. Returns the rows, oldest first."""
        return await checked_books(self.gw, self.books)


def config_for(tmp_path: Path, fakes: dict[Protocol, FakeUpstream], *, timeouts: dict[str, float] | None,
               tokens: list[dict[str, Any]] | None, urls: dict[Protocol, str] | None = None,
               **sections: Any) -> GatewayConfig:
    channels = []
    for protocol, fake in fakes.items():
        extra: dict[str, Any] = {"timeouts": timeouts} if timeouts else {}
        url = (urls or {}).get(protocol, fake.url)
        channels.append(channel(protocol.value, protocol.value, url, key=fake.keys[0],
                                models=[MODELS[protocol]], **extra))
    return make_config(tmp_path, channels=channels, tokens=tokens or [token("alice")],
                       routing={"retries": 0, "cooldown_seconds": 0, **sections.pop("routing", {})}, **sections)


@contextlib.asynccontextmanager
async def world(tmp_path: Path, *, timeouts: dict[str, float] | None = None,
                tokens: list[dict[str, Any]] | None = None,
                ledger_factory: Callable[[GatewayConfig], Ledger] | None = None,
                app_options: dict[str, Any] | None = None, urls: dict[Protocol, str] | None = None,
                **sections: Any) -> AsyncIterator[World]:
    """A gateway with one channel per protocol, each over its fake (or at `urls[protocol]`); no failover
    and no cooldown (`routing.retries` 0, `cooldown_seconds` 0): every call meets the fault scripted for
    it. Each channel gets the `timeouts` given."""
    fakes: dict[Protocol, FakeUpstream] = {
        OPENAI: OpenAIFake(keys=[UPSTREAM_KEYS[OPENAI]], seed=1),
        ANTHROPIC: AnthropicFake(keys=[UPSTREAM_KEYS[ANTHROPIC]], seed=2),
        GEMINI: GeminiFake(keys=[UPSTREAM_KEYS[GEMINI]], seed=3),
    }
    async with contextlib.AsyncExitStack() as stack:
        for fake in fakes.values():
            await stack.enter_async_context(run_fake(fake))
        config = config_for(tmp_path, fakes, timeouts=timeouts, tokens=tokens, urls=urls, **sections)
        options = dict(app_options or {})
        if ledger_factory is not None:
            options["ledger_factory"] = ledger_factory
        gw = await stack.enter_async_context(running_gateway(config, **options))
        books = Ledgerbook(gw.runtime.ledger)
        gw.runtime.ledger = books  # type: ignore[assignment]
        yield World(gw, books, fakes)


# The caller-side error names of the gateway's 5xx answers (SPEC §7): (OpenAI type, Anthropic type,
# Gemini status) by HTTP status.
GATEWAY_ERRORS = {
    502: {OPENAI: "server_error", ANTHROPIC: "api_error", GEMINI: "UNAVAILABLE"},
    503: {OPENAI: "server_error", ANTHROPIC: "overloaded_error", GEMINI: "UNAVAILABLE"},
    504: {OPENAI: "server_error", ANTHROPIC: "api_error", GEMINI: "DEADLINE_EXCEEDED"},
}


def assert_gateway_error(reply: Reply, door: Protocol, status: int) -> str:
    """`reply` is the gateway's `status` error in `door`'s shape; returns its message."""
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    code, name = error_shape(door, body)
    assert name == GATEWAY_ERRORS[status][door], body
    assert code in (None, status)
    message: str = body["error"]["message"]
    return message


async def last_row(world: World) -> LogRow:
    """The row of the latest call, once the books were checked (every hold closed exactly once)."""
    rows = await world.check_books()
    return rows[-1]


def channel_failures(world: World, channel_type: Protocol) -> int:
    """How many failures the gateway's routing state counted against that protocol's channel."""
    rt = world.gw.runtime
    for entry in rt.channels.snapshot(rt.config.channels, rt.clock())["channels"]:
        if entry["name"] == channel_type.value:
            return int(entry["failures"])
    raise KeyError(channel_type)
