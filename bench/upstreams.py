"""Fast fake upstreams on a raw asyncio protocol: canned OpenAI, Anthropic and Gemini replies, keep-alive.

`python -m bench.upstreams --port P [--chunks 20]` serves, on one port:
  POST /v1/chat/completions                              OpenAI (stream when the body says "stream":true)
  POST /v1/messages                                      Anthropic (same)
  POST /v1beta/models/{m}:generateContent                Gemini JSON
  POST /v1beta/models/{m}:streamGenerateContent?alt=sse  Gemini SSE
  GET  /health
Bodies are not parsed as JSON (that would make the floor slower than it is): the model and the stream flag
are found with a regular expression, the credential header of each protocol must be present (so a proxy
that forgot it is caught), and a reply is built once and then only written. See bench/replies.py for the
shapes and the `-n<chunks>-p<pace_ms>` model suffix.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from bench import replies

_MODEL = re.compile(rb'"model"\s*:\s*"([^"]{1,200})"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_GEMINI = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)(\?alt=sse)?$")
_CREDENTIAL = {"openai": b"\r\nauthorization:", "anthropic": b"\r\nx-api-key:",
               "gemini": b"\r\nx-goog-api-key:"}
_MAX_HEAD = 64 * 1024


def _status(code: int, reason: str, content_type: str, body: bytes, close: bool = False) -> bytes:
    head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Replies:
    """The cache of canned replies, keyed by what a request asked for."""

    def __init__(self, default_chunks: int) -> None:
        self.default_chunks = default_chunks
        self._cache: dict[tuple[str, str, bool, bool], replies.Reply] = {}

    def get(self, kind: str, model: str, stream: bool, usage: bool) -> replies.Reply:
        key = (kind, model, stream, usage)
        found = self._cache.get(key)
        if found is None:
            shape = replies.shape_of(model, self.default_chunks)
            if kind == "openai":
                found = replies.openai(model, stream, usage, shape)
            elif kind == "anthropic":
                found = replies.anthropic(model, stream, shape)
            else:
                found = replies.gemini(model, stream, shape)
            if len(self._cache) < 1000:
                self._cache[key] = found
        return found


NOT_FOUND = _status(404, "Not Found", "application/json", b'{"error":{"message":"not found"}}')
UNAUTHORIZED = _status(401, "Unauthorized", "application/json", b'{"error":{"message":"no credential"}}')
BAD = _status(400, "Bad Request", "application/json", b'{"error":{"message":"bad request"}}', close=True)
HEALTH = _status(200, "OK", "text/plain", b"ok")


class FakeUpstream(asyncio.Protocol):
    """One connection: parse requests one at a time, answer from the cache, pace streams with call_later."""

    def __init__(self, cache: Replies) -> None:
        self.cache = cache
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a paced stream is being written; later requests wait in the buffer
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._serve()

    def _serve(self) -> None:
        while self.transport is not None and not self.busy:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD:
                    self._fail()
                return
            head = bytes(self.buffer[:end + 2])
            lower = head.lower()
            length = 0
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                try:
                    length = int(lower[at + 17:stop])
                except ValueError:
                    self._fail()
                    return
            elif b"\r\ntransfer-encoding:" in lower:
                self._fail()  # no client of this benchmark sends chunked request bodies
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            self._answer(head, lower, body)

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD)
            self.transport.close()

    def _answer(self, head: bytes, lower: bytes, body: bytes) -> None:
        assert self.transport is not None
        line = head[:head.find(b"\r\n")].split(b" ")
        if len(line) != 3:
            self._fail()
            return
        method, target = line[0], line[1].decode("latin-1")
        if method == b"GET" and target == "/health":
            self.transport.write(HEALTH)
            return
        if method != b"POST":
            self.transport.write(NOT_FOUND)
            return
        match = None
        if target == "/v1/chat/completions":
            kind = "openai"
        elif target == "/v1/messages":
            kind = "anthropic"
        elif (match := _GEMINI.match(target)) is not None:
            kind = "gemini"
        else:
            self.transport.write(NOT_FOUND)
            return
        if _CREDENTIAL[kind] not in lower or (kind == "anthropic" and b"\r\nanthropic-version:" not in lower):
            self.transport.write(UNAUTHORIZED)
            return
        if match is not None:  # gemini: the model and the method are in the path
            model, stream, usage = match.group(1), match.group(2) == "streamGenerateContent", False
        else:
            found = _MODEL.search(body)
            if found is None:
                self.transport.write(BAD)
                self.transport.close()
                return
            model = found.group(1).decode()
            stream, usage = _STREAM.search(body) is not None, _USAGE.search(body) is not None
        reply = self.cache.get(kind, model, stream, usage)
        if reply.whole is not None:
            self.transport.write(_status(200, "OK", reply.content_type, reply.whole))
            return
        start = (f"HTTP/1.1 200 OK\r\nContent-Type: {reply.content_type}\r\nCache-Control: no-cache\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n").encode()
        if reply.pace_ms <= 0:
            parts = [start]
            if reply.head:
                parts.append(_chunk(reply.head))
            parts += [_chunk(step) for step in reply.steps]
            if reply.tail:
                parts.append(_chunk(reply.tail))
            parts.append(b"0\r\n\r\n")
            self.transport.write(b"".join(parts))
            return
        self.transport.write(start + (_chunk(reply.head) if reply.head else b""))
        self.busy = True
        self.loop.call_later(reply.pace_ms / 1000, self._step, reply, 0)

    def _step(self, reply: replies.Reply, index: int) -> None:
        if self.transport is None:  # the caller went away mid-stream
            return
        last = index == len(reply.steps) - 1
        data = _chunk(reply.steps[index])
        if last:
            self.transport.write(data + (_chunk(reply.tail) if reply.tail else b"") + b"0\r\n\r\n")
            self.busy = False
            if self.buffer:
                self._serve()
            return
        self.transport.write(data)
        self.loop.call_later(reply.pace_ms / 1000, self._step, reply, index + 1)


async def serve(host: str, port: int, chunks: int, ready: asyncio.Event | None = None) -> None:
    cache = Replies(chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FakeUpstream(cache), host, port, backlog=4096)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream without -n<N>")
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = parser.parse_args()
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            pass
    runner(serve(args.host, args.port, args.chunks))


if __name__ == "__main__":
    main()
