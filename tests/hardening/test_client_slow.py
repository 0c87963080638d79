"""Callers that stop reading, and many idle connections (reliability §5.2 #35; §2.5).

A caller that opens a stream and then reads nothing fills its TCP window; the gateway must then stop
reading the upstream (backpressure, so its memory stays bounded), give up after its write deadline,
settle what it relayed, and hang up upstream. Idle connections must not stop it serving others."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from gateway.ledger.base import Outcome
from gateway.protocols import Protocol
from tests.fakes.base import run_fake
from tests.hardening.world import ANTHROPIC, MODELS, OPENAI, last_row, request_for, world

TOTAL = 256 * 1024 * 1024  # what the upstream would send if nothing held it back
PIECE = "x" * 16 * 1024


class Firehose:
    """An OpenAI-compatible upstream streaming 16 KiB deltas as fast as its socket takes them, up to
    TOTAL bytes; counts what it managed to write before the gateway hung up."""

    def __init__(self) -> None:
        self.url = ""
        self.sent = 0
        self.ended = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                            "choices": [{"index": 0, "delta": {"content": PIECE}, "finish_reason": None}]})
        frame = f"data: {chunk}\n\n".encode()
        try:
            while self.sent < TOTAL:
                await response.write(frame)
                self.sent += len(frame)
        except ConnectionError:
            pass
        finally:
            self.ended.set()
        return response


@pytest.fixture
async def firehose() -> AsyncIterator[Firehose]:
    server = Firehose()
    async with run_fake(server.app) as url:
        server.url = url
        yield server


async def stalled_caller(url: str, door: Protocol) -> socket.socket:
    """A caller with a tiny receive window that sends a streamed call and then never reads."""
    path, headers, body = request_for(door, MODELS[OPENAI], stream=True)
    target = URL(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (target.host, target.port))
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {target.host}", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in headers.items())]
    await asyncio.get_running_loop().sock_sendall(sock, ("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    return sock


@pytest.mark.parametrize("door", [OPENAI, ANTHROPIC], ids=["passed-through", "translated"])
async def test_a_caller_that_stops_reading_is_cut_off_at_the_write_deadline(
        tmp_path: Path, firehose: Firehose, door: Protocol) -> None:
    async with world(tmp_path, urls={OPENAI: firehose.url}, server={"write_timeout_seconds": 0.5}) as w:
        sock = await stalled_caller(w.url, door)
        try:
            started = time.monotonic()
            await asyncio.wait_for(firehose.ended.wait(), 10)  # the gateway hung up upstream
            took = time.monotonic() - started
            row = await last_row(w)
        finally:
            sock.close()
    # Backpressure: the upstream could only fill the socket buffers on the way, a sliver of its stream.
    assert firehose.sent < TOTAL // 8, firehose.sent
    assert took < 5
    assert (row.status, row.outcome) == (499, Outcome.CANCELLED)
    assert w.books.calls[row.request_id] == ["hold", "settle:True"]
    assert row.quota > 0 and row.completion_tokens > 0  # what was relayed before the caller stalled


async def test_hundreds_of_idle_connections_do_not_stop_a_normal_call(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        target = URL(w.url)
        idle = [await asyncio.open_connection(target.host, target.port) for _ in range(300)]
        try:
            for writer in idle[::2]:  # half of them even started a request line
                writer[1].write(b"POST /v1/chat/completions HTTP/1.1\r\n")
            started = time.monotonic()
            reply = await w.call(OPENAI, OPENAI, stream=True)
            assert reply.status == 200 and time.monotonic() - started < 2
            assert (await last_row(w)).outcome is Outcome.OK
        finally:
            for _, writer in idle:
                writer.transport.abort()
