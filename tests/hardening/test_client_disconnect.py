"""Callers that hang up (reliability §5.2 #34): mid-stream, or while the upstream has not answered yet.
The gateway must hang up upstream within about a second, settle what was delivered (or release the
hold when nothing was), write a 499 cancelled row, and log no server error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from yarl import URL

from gateway.ledger.base import Outcome
from gateway.protocols import Protocol
from tests.fakes.script import Behaviour
from tests.hardening.world import MODELS, PAIRS, PROTOCOLS, World, last_row, pair_id, request_for, world


@asynccontextmanager
async def raw_call(w: World, door: Protocol, channel_type: Protocol, *, stream: bool
                   ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A chat call written on a bare socket; the test reads what it wants and the socket is then closed
    (no orderly end: the caller simply goes away)."""
    path, headers, body = request_for(door, MODELS[channel_type], stream=stream)
    target = URL(w.url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {target.host}:{target.port}", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    await writer.drain()
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


def server_errors(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e.get("status") == 500 or e.get("log_level") in ("error", "critical")]


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
async def test_hanging_up_mid_stream_stops_the_upstream_and_bills_what_was_delivered(
        tmp_path: Path, pair: tuple[Protocol, Protocol]) -> None:
    door, channel_type = pair
    async with world(tmp_path) as w:
        fake = w.fake(channel_type)
        fake.script.reply(text="word " * 40, chunks=40, chunk_delay=0.1)  # a 4 s stream
        with capture_logs() as logs:
            async with raw_call(w, door, channel_type, stream=True) as (reader, _):
                received = b""
                while received.count(b"data:") < 3:  # the headers and a few events
                    received += await asyncio.wait_for(reader.read(4096), 5)
            gone = time.monotonic()
            record = fake.requests[-1]
            await asyncio.wait_for(record.disconnected.wait(), 1)  # the gateway hung up upstream
            assert time.monotonic() - gone < 1 and not record.completed
            row = await last_row(w)
        assert received.startswith(b"HTTP/1.1 200")
        assert (row.status, row.outcome, row.stream) == (499, Outcome.CANCELLED, True)
        assert w.books.calls[row.request_id] == ["hold", "settle:True"]
        assert 0 < row.quota <= w.books.amounts[row.request_id] and row.completion_tokens > 0
        assert server_errors(logs) == []
        assert [e["status"] for e in logs if e["event"] == "access"] == [499]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.value)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_hanging_up_before_the_upstream_answered_cancels_it_and_releases_the_hold(
        tmp_path: Path, protocol: Protocol, stream: bool) -> None:
    async with world(tmp_path) as w:
        fake = w.fake(protocol)
        fake.script.reply(stall_before_headers=10)
        with capture_logs() as logs:
            async with raw_call(w, protocol, protocol, stream=stream):
                [record] = await asyncio.wait_for(fake.wait_for_requests(1), 5)
            gone = time.monotonic()
            await asyncio.wait_for(record.disconnected.wait(), 1)
            assert time.monotonic() - gone < 1
            row = await last_row(w)
        assert (row.status, row.outcome, row.quota, row.first_byte_ms) == (499, Outcome.CANCELLED, 0, None)
        assert w.books.calls[row.request_id] == ["hold", "release:True"]
        assert server_errors(logs) == []


async def test_many_callers_hanging_up_at_once_leave_nothing_held(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for fake in w.fakes.values():
            fake.script.default = Behaviour(text="word " * 40, chunks=40, chunk_delay=0.05)

        async def hang_up(index: int) -> None:
            door, channel_type = PAIRS[index % len(PAIRS)]
            async with raw_call(w, door, channel_type, stream=index % 3 != 0) as (reader, _):
                await asyncio.wait_for(reader.read(1 + index * 97), 5)  # gone at assorted points

        await asyncio.gather(*(hang_up(i) for i in range(36)))
        rows = await w.check_books()
        assert len(rows) == 36 and all(r.status in (200, 499) for r in rows)
        assert {r.outcome for r in rows if r.status == 499} == {Outcome.CANCELLED}
        for fake in w.fakes.values():  # every upstream call was finished or hung up on
            for record in fake.requests:
                if not record.completed:
                    await asyncio.wait_for(record.disconnected.wait(), 1)
