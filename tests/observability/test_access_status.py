"""The access line's status for a caller that hangs up: the answer's status once the whole answer went out
(the call's row says the same), 499 when it left before that."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from gateway.config.models import GatewayConfig
from gateway.ledger.base import LogQuery, LogRow, Outcome
from gateway.ledger.sqlite import SqliteLedger
from tests.fakes.openai import OpenAIFake
from tests.fakes.script import Behaviour
from tests.harness import CALLER_KEY, channel, make_config, running_gateway

SETTLE_DELAY = 0.5


class SlowSettlement(SqliteLedger):
    """Settlements land SETTLE_DELAY late, so the caller can hang up while its handler still waits."""

    async def settle(self, row: LogRow) -> bool:
        await asyncio.sleep(SETTLE_DELAY)
        return await super().settle(row)


def slow_ledger(config: GatewayConfig) -> SqliteLedger:
    return SlowSettlement(config.database.path)


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    structlog.reset_defaults()


async def ask_then_hang_up(port: int, body: bytes, *, read_all: bool) -> bytes:
    """One keep-alive request on a raw socket; close it once the answer is complete (or at its first
    bytes), without waiting for the server to finish the call."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + CALLER_KEY.encode() + b"\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    answer = head
    if read_all:
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        answer += await reader.readexactly(length)
    writer.transport.abort()
    return answer


def access_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == "access" and line.get("path") == "/v1/chat/completions"]


async def test_a_caller_that_hangs_up_after_the_whole_answer_is_logged_with_the_answers_status(
        tmp_path: Path, fake_openai: OpenAIFake, log_buffer: io.StringIO) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
    async with running_gateway(config, ledger_factory=slow_ledger, configure_logging=True,
                               log_stream=log_buffer) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        answer = await ask_then_hang_up(port, body, read_all=True)
        assert answer.startswith(b"HTTP/1.1 200") and b'"choices"' in answer
        await asyncio.sleep(SETTLE_DELAY + 0.3)
        await gw.runtime.idle()
        [line] = access_lines(log_buffer)
        assert line["status"] == 200
        [(_, row)] = (await gw.runtime.ledger.logs(LogQuery(limit=10))).rows
        assert (row.status, row.outcome) == (200, Outcome.OK) and row.quota > 0


async def test_a_caller_that_hangs_up_mid_answer_is_logged_499(
        tmp_path: Path, fake_openai: OpenAIFake, log_buffer: io.StringIO) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    fake_openai.script.default = Behaviour(chunk_delay=0.2)
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    async with running_gateway(config, configure_logging=True, log_stream=log_buffer) as gw:
        port = int(gw.url.rsplit(":", 1)[1])
        answer = await ask_then_hang_up(port, body, read_all=False)
        assert answer.startswith(b"HTTP/1.1 200")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if access_lines(log_buffer):
                break
        await gw.runtime.idle()
        [line] = access_lines(log_buffer)
        assert line["status"] == 499
        [(_, row)] = (await gw.runtime.ledger.logs(LogQuery(limit=10))).rows
        assert (row.status, row.outcome) == (499, Outcome.CANCELLED)
