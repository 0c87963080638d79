"""A hold is closed exactly once even when the gateway itself fails half-way (reliability §5.2 #25): a
bug in a relay before or after the first byte reaches the caller as a clean error, the hold is released
or settled once, and the caller is never left hanging. The ledger refusing a second close is
tests/ledger/test_settle.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger.base import Outcome
from gateway.protocols import passthrough
from gateway.protocols.sse import Event
from tests.hardening.world import ANTHROPIC, GEMINI, OPENAI, error_shape, last_row, terminal, world

RELAYS = {OPENAI: passthrough.OpenAIPassthrough, ANTHROPIC: passthrough.AnthropicPassthrough,
          GEMINI: passthrough.GeminiPassthrough}


def break_relay(monkeypatch: pytest.MonkeyPatch, relay: type, at: int) -> None:
    """The relay raises an unexpected error on its `at`-th event (0-based), as a bug would."""
    real = relay._feed
    seen = {"events": 0}

    def feed(self: Any, event: Event) -> list[Event]:
        seen["events"] += 1
        if seen["events"] > at:
            raise RuntimeError("a bug in the relay")
        return real(self, event)  # type: ignore[no-any-return]

    monkeypatch.setattr(relay, "_feed", feed)


@pytest.mark.parametrize("door", [OPENAI, ANTHROPIC, GEMINI], ids=lambda p: p.value)
async def test_a_bug_mid_stream_ends_the_callers_stream_and_settles_once(
        tmp_path: Path, door: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path) as w:
        break_relay(monkeypatch, RELAYS[door], at=2)
        started = time.monotonic()
        reply = await w.call(door, door, stream=True)
        assert time.monotonic() - started < 2  # not left hanging
        assert reply.status == 200 and terminal(door, reply.events) == "error"
        assert "failed while relaying" in json.loads(reply.events[-1].data)["error"]["message"]
        row = await last_row(w)
        assert w.books.calls[row.request_id] == ["hold", "settle:True"]
        assert (row.outcome, row.error) == (Outcome.ERROR, "internal error: RuntimeError")
        assert 0 < row.quota <= w.books.amounts[row.request_id]


@pytest.mark.parametrize("door", [OPENAI, ANTHROPIC, GEMINI], ids=lambda p: p.value)
async def test_a_bug_before_the_first_byte_is_a_500_and_a_release(
        tmp_path: Path, door: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world(tmp_path) as w:
        break_relay(monkeypatch, RELAYS[door], at=0)
        reply = await w.call(door, door, stream=True)
        assert reply.status == 500
        _, name = error_shape(door, reply.json())
        assert name == {OPENAI: "server_error", ANTHROPIC: "api_error", GEMINI: "INTERNAL"}[door]
        row = await last_row(w)
        assert w.books.calls[row.request_id] == ["hold", "release:True"]
        assert (row.status, row.outcome, row.quota) == (500, Outcome.ERROR, 0)
        # The gateway is not wedged: the next call is served (the relay is still broken for streams).
        assert (await w.call(door, door, stream=False)).status == 200
        await w.check_books()

