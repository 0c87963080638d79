"""A small asyncio HTTP/1.1 client on raw streams, for what wrk cannot see: time to first body byte of a
stream, response headers (x-gateway-overhead-ms), and a thousand streams held open at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.requests import Request


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    ttfb: float  # seconds from the request being written to the first body byte
    total: float  # seconds to the end of the body


class Connection:
    """One keep-alive connection; requests go one after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, raw: bytes, *, keep_body: bool = True,
                       on_first_byte: Callable[[], None] | None = None) -> Answer:
        started = time.perf_counter()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = bytearray()
        ttfb = 0.0
        if "content-length" in headers:
            length = int(headers["content-length"])
            data = await self.reader.readexactly(length) if length else b""
            ttfb = time.perf_counter() - started
            if on_first_byte is not None:
                on_first_byte()
            body += data
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (await self.reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the end
                        pass
                    break
                data = await self.reader.readexactly(size + 2)
                if not ttfb:
                    ttfb = time.perf_counter() - started
                    if on_first_byte is not None:
                        on_first_byte()
                if keep_body:
                    body += data[:-2]
        else:
            raise RuntimeError(f"response with neither content-length nor chunked encoding: {headers}")
        return Answer(status, headers, bytes(body), ttfb or time.perf_counter() - started,
                      time.perf_counter() - started)


async def one(request: Request, index: int = 0) -> Answer:
    conn = await Connection.open(request.port)
    try:
        return await conn.exchange(request.raw(index))
    finally:
        conn.close()


async def sequential(request: Request, count: int, *, keep_body: bool = False) -> list[Answer]:
    """`count` requests one after another on one connection (concurrency 1)."""
    conn = await Connection.open(request.port)
    answers = []
    try:
        for i in range(count):
            answer = await conn.exchange(request.raw(i), keep_body=keep_body)
            if answer.status != 200:
                raise RuntimeError(f"status {answer.status} from port {request.port}{request.path}")
            answers.append(answer)
    finally:
        conn.close()
    return answers


@dataclass
class Held:
    """The state of many streams held open at once."""

    total: int
    opened: int = 0  # connections established
    first_bytes: int = 0  # streams that have sent their first body byte
    finished: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def open_streams(self) -> int:
        return self.first_bytes - self.finished - self.failed


async def hold_streams(request: Request, held: Held, *, connect_batch: int = 100) -> None:
    """Open `held.total` streams at once (connecting `connect_batch` at a time) and read them to the end."""
    gate = asyncio.Semaphore(connect_batch)

    def first() -> None:
        held.first_bytes += 1

    async def stream(index: int) -> None:
        try:
            async with gate:
                conn = await Connection.open(request.port)
            held.opened += 1
            try:
                answer = await conn.exchange(request.raw(index), keep_body=False, on_first_byte=first)
            finally:
                conn.close()
            if answer.status != 200:
                raise RuntimeError(f"status {answer.status}")
            held.finished += 1
        except (OSError, RuntimeError, asyncio.IncompleteReadError, ValueError) as exc:
            held.failed += 1
            if len(held.errors) < 5:
                held.errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(stream(i) for i in range(held.total)))
