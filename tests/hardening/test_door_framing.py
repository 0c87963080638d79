"""Framing at the doors over bare sockets (reliability.md §5.2 #1–#6): smuggling-shaped requests,
oversized heads, body limits crossed with Content-Length and mid-chunked-stream, compressed bodies,
slowloris and slow bodies. Each request would otherwise be a valid, authenticated call, so "the
upstream saw nothing" means the door stopped it."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from yarl import URL

from tests.hardening.door_env import (
    ANTHROPIC,
    DOORS,
    GEMINI,
    OPENAI,
    PATHS,
    DoorEnv,
    auth,
    chat_body,
    doors,
    error_kind,
    http_request,
    raw_http,
)

LIMIT = 4096  # server.max_body_bytes in these tests


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DoorEnv]:
    async with doors(tmp_path_factory.mktemp("framing"), server={"max_body_bytes": LIMIT}) as door_env:
        yield door_env


def valid(door: object = OPENAI) -> bytes:
    return json.dumps(chat_body(door)).encode()  # type: ignore[arg-type]


def chunked(data: bytes, size: int) -> bytes:
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


HEAD = {**auth(OPENAI), "Content-Type": "application/json"}


@pytest.mark.parametrize("framing", [
    "Content-Length: {n}\r\nTransfer-Encoding: chunked",  # CL + TE (CL.TE / TE.CL smuggling)
    "Transfer-Encoding: chunked\r\nContent-Length: {n}",
    "Content-Length: {n}\r\nContent-Length: {m}",  # duplicate, differing
    "Content-Length: {n}, {n}",
    "Transfer-Encoding: xchunked",
    "Transfer-Encoding: chunked, identity",
    "Transfer-Encoding: identity",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    "Content-Length: +{n}",
    "Content-Length: -1",
    "Content-Length: {n}\r\nX-Smuggle: a\rb",  # bare CR in a header value
    "Content-Length: {n}\r\nX-Smuggle: a\x00b",
    "Content-Length: {n}\r\n Folded: continuation",  # obsolete line folding
])
async def test_conflicting_or_malformed_framing_is_400_and_closes(env: DoorEnv, framing: str) -> None:
    body = valid()
    request = http_request(PATHS[OPENAI], HEAD, body,
                           framing=framing.format(n=len(body), m=len(body) + 1))
    snap = env.snapshot()
    reply = await raw_http(env.url, request, expect_close=True)
    assert reply.status == 400 and reply.closed
    await env.untouched(snap)


async def test_smuggled_second_request_in_a_body_never_runs(env: DoorEnv) -> None:
    # A TE.CL-style payload: were the body framed by Content-Length alone, the chunk data would
    # hide a second, separately authenticated call.
    inner = http_request(PATHS[OPENAI], HEAD, valid())
    smuggled = b"0\r\n\r\n" + inner
    request = http_request(PATHS[OPENAI], HEAD, smuggled,
                           framing=f"Content-Length: {len(smuggled)}\r\nTransfer-Encoding: chunked")
    snap = env.snapshot()
    reply = await raw_http(env.url, request, expect_close=True)
    assert reply.status == 400 and reply.closed
    await asyncio.sleep(0.2)
    await env.untouched(snap)


async def test_a_clean_chunked_body_is_served(env: DoorEnv) -> None:
    # The control for the framing cases: chunked framing itself is fine.
    request = http_request(PATHS[OPENAI], HEAD, chunked(valid(), 7), framing="Transfer-Encoding: chunked")
    snap = env.snapshot()
    reply = await raw_http(env.url, request)
    assert reply.status == 200, reply.body
    assert len(env.sent_since(snap, OPENAI)) == 1
    assert (await env.row(reply.headers["x-request-id"])).outcome == "ok"


@pytest.mark.parametrize("head", [
    {"X-Big": "a" * 20_000},  # one header field over max_field_size (16 KiB)
    {f"X-Many-{i}": "1" for i in range(200)},  # over max_headers (128)
])
async def test_oversized_heads_are_400_before_anything_else(env: DoorEnv, head: dict[str, str]) -> None:
    snap = env.snapshot()
    reply = await raw_http(env.url, http_request(PATHS[OPENAI], {**HEAD, **head}, valid()), expect_close=True)
    assert reply.status == 400 and reply.closed
    await env.untouched(snap)


async def test_request_line_over_the_limit_is_refused(env: DoorEnv) -> None:
    path = PATHS[OPENAI] + "?pad=" + "a" * 9000
    snap = env.snapshot()
    reply = await raw_http(env.url, http_request(path, HEAD, valid()), expect_close=True)
    assert reply.status in (400, 414) and reply.closed
    await env.untouched(snap)


TOO_LARGE = {OPENAI: "invalid_request_error", ANTHROPIC: "request_too_large", GEMINI: "INVALID_ARGUMENT"}


def oversized(door: object) -> bytes:
    return json.dumps(chat_body(door, text="x" * (LIMIT * 2))).encode()  # type: ignore[arg-type]


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_body_over_the_limit_is_413_in_the_callers_shape(env: DoorEnv, door: object, framing: str) -> None:
    body = oversized(door)
    headers = {**auth(door), "Content-Type": "application/json"}  # type: ignore[arg-type]
    if framing == "chunked":  # the limit is crossed in the middle of the stream of chunks
        request = http_request(PATHS[door], headers, chunked(body, 1000),  # type: ignore[index]
                               framing="Transfer-Encoding: chunked")
    else:
        request = http_request(PATHS[door], headers, body)  # type: ignore[index]
    snap = env.snapshot()
    reply = await raw_http(env.url, request)
    assert error_kind(door, json.loads(reply.body)) == TOO_LARGE[door]  # type: ignore[index, arg-type]
    await env.refused(snap, reply, 413)  # authenticated: one row, no hold


async def test_oversized_body_without_a_valid_key_is_401_and_writes_nothing(env: DoorEnv) -> None:
    request = http_request(PATHS[OPENAI], {**auth(OPENAI, "sk-nobody"), "Content-Type": "application/json"},
                           oversized(OPENAI))
    snap = env.snapshot()
    reply = await raw_http(env.url, request)
    assert reply.status == 401
    await env.untouched(snap)


@functools.cache
def zip_bomb() -> bytes:
    return gzip.compress(b"0" * (32 * 1024 * 1024), compresslevel=9)  # 32 MiB of zeros in ~32 KiB


@pytest.mark.parametrize("coding", ["gzip", "deflate", "gzip, identity"])
@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)
async def test_compressed_bodies_are_415_and_never_inflated(env: DoorEnv, door: object, coding: str) -> None:
    headers = {**auth(door), "Content-Type": "application/json",  # type: ignore[arg-type]
               "Content-Encoding": coding}
    snap = env.snapshot()
    reply = await env.post(PATHS[door], zip_bomb(), headers)  # type: ignore[index]
    kind = error_kind(door, reply.json())  # type: ignore[arg-type]
    assert kind in ("invalid_request_error", "INVALID_ARGUMENT")
    assert "Content-Encoding" in str(reply.json())
    await env.refused(snap, reply, 415)


async def test_a_coding_the_parser_cannot_decode_is_refused_too(env: DoorEnv) -> None:
    # Without the Brotli package aiohttp's parser refuses `br` itself (a plain-text 400 before any
    # handler runs, so nothing is logged); with it installed the door's 415 answers. Either way: refused.
    headers = {**auth(OPENAI), "Content-Type": "application/json", "Content-Encoding": "br"}
    snap = env.snapshot()
    reply = await env.post(PATHS[OPENAI], zip_bomb(), headers)
    assert reply.status in (400, 415)
    if reply.status == 415:
        await env.refused(snap, reply, 415)
    else:
        await env.untouched(snap)


async def test_slowloris_connections_do_not_stop_a_normal_call(env: DoorEnv) -> None:
    # 300 connections that never finish their head. aiohttp has no header-read timeout (the README
    # puts a front proxy in charge of closing them); what the gateway owes is to keep serving.
    target = URL(env.url)
    snap = env.snapshot()
    idle = []
    for _ in range(300):
        _, writer = await asyncio.open_connection(target.host, target.port)
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        idle.append(writer)
    try:
        await asyncio.sleep(0.1)
        started = time.monotonic()
        reply = await env.post(PATHS[OPENAI], chat_body(OPENAI), auth(OPENAI))
        assert reply.status == 200
        assert time.monotonic() - started < 2.0
        for writer in idle[:50]:  # a trickle of header bytes keeps them open, still no harm
            writer.write(b"a")
        reply = await env.post(PATHS[OPENAI], chat_body(OPENAI), auth(OPENAI))
        assert reply.status == 200
    finally:
        for writer in idle:
            writer.close()
    assert len(env.sent_since(snap, OPENAI)) == 2
    await env.check_books()


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)
async def test_slow_body_gets_408_in_the_callers_shape(env: DoorEnv, door: object,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    live = env.gw.runtime.config  # this module's gateway is shared: lower the limit for this test only
    monkeypatch.setattr(env.gw.runtime, "config",
                        live.model_copy(update={"server": live.server.model_copy(
                            update={"body_timeout_seconds": 0.5})}))
    body = valid(door)
    headers = {**auth(door), "Content-Type": "application/json"}  # type: ignore[arg-type]
    target = URL(env.url)
    snap = env.snapshot()
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(http_request(PATHS[door], headers, body)[: -len(body) + 5])  # type: ignore[index]
        started = time.monotonic()
        trickle = asyncio.ensure_future(_trickle(writer, body[5:]))  # 1 byte every 0.1 s
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
        elapsed = time.monotonic() - started
        trickle.cancel()
        assert head.startswith(b"HTTP/1.1 408")
        assert 0.4 < elapsed < 2.5
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        payload = json.loads(await reader.readexactly(length))
        kind = error_kind(door, payload)  # type: ignore[arg-type]
        assert kind in ("invalid_request_error", "DEADLINE_EXCEEDED")
        request_id = next(line.split(b":")[1].strip() for line in head.split(b"\r\n")
                          if line.lower().startswith(b"x-request-id")).decode()
    finally:
        writer.close()
    assert env.upstream_calls_since(snap) == 0
    row = await env.row(request_id)
    assert (row.status, row.outcome, row.quota) == (408, "error", 0)


async def _trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await asyncio.sleep(0.1)
