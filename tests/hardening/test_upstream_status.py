"""Upstream failures before the first byte, one channel and no failover (reliability §5.2 #21, #23, #24,
#33): the caller gets the gateway's 5xx in its own protocol, the hold is released exactly once, and the
row names the upstream's status. Failover to a second channel is tests/e2e/test_routing.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.ledger.base import LogRow, Outcome
from gateway.protocols import Protocol
from tests.e2e.routing_env import closed_port_url
from tests.fakes.base import run_fake
from tests.fakes.openai import OpenAIFake
from tests.hardening.world import (
    ANTHROPIC,
    GEMINI,
    OPENAI,
    PAIRS,
    PROTOCOLS,
    UPSTREAM_KEYS,
    assert_gateway_error,
    last_row,
    pair_id,
    world,
)


def assert_released(row: LogRow, status: int, channel: str) -> None:
    assert (row.status, row.outcome, row.quota, row.channel) == (status, Outcome.ERROR, 0, channel)
    assert row.first_byte_ms is None


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_upstream_5xx_before_any_byte_is_a_clean_5xx_and_a_refund(tmp_path: Path, stream: bool) -> None:
    # 500 -> 502 bad gateway; 503 and 529 (overloaded) -> 503; each in the caller's own protocol.
    expected = {500: 502, 503: 503, 529: 503}
    async with world(tmp_path) as w:
        for door, channel_type in PAIRS:
            for upstream, status in expected.items():
                w.fake(channel_type).script.fail(upstream, error_message="upstream is unwell")
                reply = await w.call(door, channel_type, stream=stream)
                message = assert_gateway_error(reply, door, status)
                assert message == f"channel {channel_type.value} answered {upstream}: upstream is unwell"
                row = await last_row(w)
                assert_released(row, status, channel_type.value)
                assert row.error == message, pair_id((door, channel_type))  # the upstream status is logged
        for fake in w.fakes.values():
            assert fake.script.pending == 0


async def test_refused_connection_is_502_and_a_refund(tmp_path: Path) -> None:
    dead = closed_port_url()
    async with world(tmp_path, urls={p: dead for p in PROTOCOLS}) as w:
        for door, channel_type in PAIRS:
            for stream in (False, True):
                reply = await w.call(door, channel_type, stream=stream)
                message = assert_gateway_error(reply, door, 502)
                assert "cannot reach the upstream" in message and "127.0.0.1" not in message
                assert_released(await last_row(w), 502, channel_type.value)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.value)
async def test_no_headers_within_first_byte_is_504_refund_and_the_upstream_is_hung_up(
        tmp_path: Path, protocol: Protocol) -> None:
    async with world(tmp_path, timeouts={"first_byte": 0.3}) as w:
        for stream in (False, True):
            w.fake(protocol).script.reply(stall_before_headers=10)
            started = time.monotonic()
            reply = await w.call(protocol, protocol, stream=stream)
            assert time.monotonic() - started < 2
            message = assert_gateway_error(reply, protocol, 504)
            assert "sent no response headers within 0.3s" in message
            assert_released(await last_row(w), 504, protocol.value)
            # The gateway closed its connection: the fake sees its peer gone long before the 10 s stall.
            record = w.fake(protocol).requests[-1]
            await asyncio.wait_for(record.disconnected.wait(), timeout=1)


SECRET_ECHO = "Incorrect API key provided: {key}. You can find your API key at https://x.test/?key={key}"


@pytest.mark.parametrize("status", [401, 403])
async def test_upstream_auth_failure_is_never_the_callers_401_and_never_shows_the_key(
        tmp_path: Path, status: int) -> None:
    # Each channel once (its key is set aside after): passed through for 401, translated for 403.
    pairs = PAIRS[:3] if status == 401 else PAIRS[3:]
    async with world(tmp_path) as w:
        for door, channel_type in pairs:
            key = UPSTREAM_KEYS[channel_type]
            w.fake(channel_type).script.fail(status, error_message=SECRET_ECHO.format(key=key))
            reply = await w.call(door, channel_type, stream=False)
            # The only key is set aside: 503 "no usable key", not the upstream's 401/403.
            message = assert_gateway_error(reply, door, 503)
            assert "usable key" in message
            for fragment in (key, key[:12], key[-8:]):
                assert fragment.encode() not in reply.body
                assert fragment not in str(reply.headers)
            row = await last_row(w)
            assert_released(row, 503, channel_type.value)
            assert key[:12] not in row.error
            # Later calls do not hammer the refused key: answered 503 without reaching the upstream.
            before = len(w.fake(channel_type).requests)
            again = await w.call(door, channel_type, stream=True)
            assert_gateway_error(again, door, 503)
            assert len(w.fake(channel_type).requests) == before
            await w.check_books()


async def test_redirects_are_not_followed_and_their_target_gets_nothing(tmp_path: Path) -> None:
    target = OpenAIFake(keys=["sk-target"])
    async with run_fake(target), world(tmp_path) as w:
        for door, channel_type in PAIRS:
            for location in (target.url + "/v1/chat/completions", "http://127.0.0.1:9/steal"):
                w.fake(channel_type).script.reply(redirect_to=location)
                reply = await w.call(door, channel_type, stream=channel_type is door)
                message = assert_gateway_error(reply, door, 502)
                assert "redirect" in message and "127.0.0.1" not in message
                assert_released(await last_row(w), 502, channel_type.value)
    assert target.requests == []


async def test_a_channel_recovers_after_its_failures(tmp_path: Path) -> None:
    """After each kind of failure above, the same channel answers the next call normally."""
    async with world(tmp_path, timeouts={"first_byte": 0.3}) as w:
        for protocol in (OPENAI, ANTHROPIC, GEMINI):
            fake = w.fake(protocol)
            fake.script.fail(500).reply(stall_before_headers=5).reply(redirect_to="http://127.0.0.1:9/")
            for status in (502, 504, 502):
                assert (await w.call(protocol, protocol, stream=False)).status == status
            ok = await w.call(protocol, protocol, stream=True)
            assert ok.status == 200 and ok.text(protocol) == "Hello! This is the fake upstream speaking."
        rows = await w.check_books()
        assert [r.status for r in rows] == [502, 504, 502, 200] * 3
        assert all(r.quota > 0 for r in rows if r.status == 200)

