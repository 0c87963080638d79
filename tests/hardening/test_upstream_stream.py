"""Upstream failures after the reply started (reliability §5.2 #30, #31, #32, #37, malformed events):
a stream that already reached the caller ends with the caller's own error event (never [DONE] or
message_stop), the hold is settled once for what was delivered, the row says what broke, and the channel
is told. A non-streamed body that breaks is a 502 and a refund. Every door, pass-through and translated."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger.base import Outcome
from gateway.protocols import Protocol
from tests.hardening.world import (
    ANTHROPIC,
    OPENAI,
    PAIRS,
    Reply,
    World,
    assert_gateway_error,
    channel_failures,
    error_shape,
    last_row,
    pair_id,
    terminal,
    world,
)

TEXT = "Hello! This is the fake upstream speaking."
K = 4  # frames before the fault: with the text in 6 deltas every protocol has relayed part of it
CHUNKS = 6

# fault -> (behaviour fields, what the row's error says)
STREAM_FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "reset": ({"drop_after": K, "reset": True}, "broke off mid-body"),
    "fin": ({"drop_after": K}, "broke off mid-body"),
    "truncated": ({"truncate_after": K}, "ended the stream before finishing"),
    "malformed": ({"malformed_at": K}, "not a JSON object"),
    "stall": ({"stall_after": (K, 10.0)}, "went silent mid-body within 0.3s"),
}


def error_event(door: Protocol, reply: Reply) -> dict[str, Any]:
    """The caller's last event, checked to be its protocol's error event; returns the error object."""
    assert terminal(door, reply.events) == "error", [e.data[:100] for e in reply.events[-3:]]
    body = json.loads(reply.events[-1].data)
    error_shape(door, body)
    return dict(body["error"])


def assert_every_event_whole(door: Protocol, reply: Reply) -> None:
    """No partial or garbled event reached the caller: every event's data is a JSON object, or
    OpenAI's [DONE]."""
    for event in reply.events:
        if door is Protocol.OPENAI and event.data == "[DONE]":
            continue
        assert isinstance(json.loads(event.data), dict), event.data[:200]


async def clean_call(w: World, door: Protocol, channel_type: Protocol) -> None:
    """The same call without a fault first: the channel works, so what follows is the fault's doing."""
    reply = await w.call(door, channel_type, stream=True)
    assert reply.status == 200 and terminal(door, reply.events) == "done"
    assert reply.text(door) == TEXT


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_a_stream_broken_after_its_first_bytes_ends_with_the_callers_error_event(
        tmp_path: Path, fault: str) -> None:
    fields, reason = STREAM_FAULTS[fault]
    async with world(tmp_path, timeouts={"idle": 0.3}) as w:
        for door, channel_type in PAIRS:
            await clean_call(w, door, channel_type)
            failures = channel_failures(w, channel_type)
            w.fake(channel_type).script.reply(chunks=CHUNKS, **fields)
            started = time.monotonic()
            reply = await w.call(door, channel_type, stream=True)
            assert time.monotonic() - started < 2, pair_id((door, channel_type))  # idle 0.3 s + ε
            assert reply.status == 200, (pair_id((door, channel_type)), reply.body[:300])
            error = error_event(door, reply)
            assert reason in error["message"]
            assert_every_event_whole(door, reply)
            delivered = reply.text(door)
            assert delivered and TEXT.startswith(delivered) and delivered != TEXT, (pair_id((door, channel_type)), [e.data[:90] for e in reply.events])
            row = await last_row(w)  # settled once for what was delivered
            assert (row.outcome, row.status, row.stream) == (Outcome.ERROR, 200, True)
            assert reason in row.error and row.first_byte_ms is not None
            assert 0 < row.quota <= w.books.amounts[row.request_id] and row.completion_tokens > 0
            assert channel_failures(w, channel_type) == failures + 1  # the channel is told
            if fault == "stall":  # the gateway hung up on the silent upstream
                await asyncio.wait_for(w.fake(channel_type).requests[-1].disconnected.wait(), 1)


async def test_a_mid_stream_error_event_is_carried_in_the_callers_protocol(tmp_path: Path) -> None:
    # The fakes' mid-stream errors: OpenAI a 500 server_error chunk, Anthropic overloaded_error, Gemini
    # 503 UNAVAILABLE.
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            await clean_call(w, door, channel_type)
            failures = channel_failures(w, channel_type)
            w.fake(channel_type).script.reply(chunks=CHUNKS, error_event_after=K)
            reply = await w.call(door, channel_type, stream=True)
            assert reply.status == 200
            error = error_event(door, reply)
            assert_every_event_whole(door, reply)
            if door is ANTHROPIC and channel_type is ANTHROPIC:
                assert error["type"] == "overloaded_error"
            delivered = reply.text(door)
            assert delivered and TEXT.startswith(delivered) and delivered != TEXT, (pair_id((door, channel_type)), [e.data[:90] for e in reply.events])
            row = await last_row(w)
            assert (row.outcome, row.status) == (Outcome.ERROR, 200) and row.error
            assert 0 < row.quota <= w.books.amounts[row.request_id] and row.completion_tokens > 0
            assert channel_failures(w, channel_type) == failures + 1


@pytest.mark.parametrize("fault", ["reset", "truncated", "malformed", "stall"])
async def test_a_broken_json_reply_is_a_502_and_a_refund(tmp_path: Path, fault: str) -> None:
    fields = {"reset": {"drop_after": 0, "reset": True}, "truncated": {"truncate_after": 0},
              "malformed": {"malformed_at": 0}, "stall": {"stall_after": (0, 10.0)}}[fault]
    async with world(tmp_path, timeouts={"idle": 0.3}) as w:
        for door, channel_type in PAIRS:
            w.fake(channel_type).script.reply(**fields)
            started = time.monotonic()
            reply = await w.call(door, channel_type, stream=False)
            assert time.monotonic() - started < 2
            assert_gateway_error(reply, door, 502)
            row = await last_row(w)
            assert (row.outcome, row.status, row.quota, row.channel) == (Outcome.ERROR, 502, 0,
                                                                          channel_type.value)


@pytest.mark.parametrize("fault", ["reset", "malformed", "error"])
async def test_a_stream_that_fails_before_its_first_byte_is_a_5xx_and_a_refund(tmp_path: Path,
                                                                               fault: str) -> None:
    fields = {"reset": {"drop_after": 0, "reset": True}, "malformed": {"malformed_at": 0},
              "error": {"error_event_after": 0}}[fault]
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            w.fake(channel_type).script.reply(**fields)
            reply = await w.call(door, channel_type, stream=True)
            # The fakes' error events: OpenAI a 500 (-> 502), Anthropic 529 and Gemini 503 (-> 503).
            status = 502 if fault != "error" or channel_type is OPENAI else 503
            assert_gateway_error(reply, door, status)
            row = await last_row(w)
            assert (row.outcome, row.quota, row.first_byte_ms) == (Outcome.ERROR, 0, None)
