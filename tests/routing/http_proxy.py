"""A tiny HTTP forward proxy (absolute-form requests to http:// targets) that records what it forwards."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from .loopback import LoopbackServer
from .socks5_server import _pipe_both


@dataclass
class Forwarded:
    request_line: str
    proxy_authorization: str | None


class HttpProxy(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.forwarded: list[Forwarded] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")[:-2]
        method, target, version = request_line.split(" ")
        headers = [line.split(":", 1) for line in header_lines]
        auth = next((v.strip() for k, v in headers if k.lower() == "proxy-authorization"), None)
        self.forwarded.append(Forwarded(request_line, auth))
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname is None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        kept = [f"{k}:{v}" for k, v in headers
                if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")]
        path = url.path + (f"?{url.query}" if url.query else "")
        target_reader, target_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        # One request per connection keeps the relay trivial: the target closes after answering.
        target_writer.write(f"{method} {path} {version}\r\n{''.join(h + chr(13) + chr(10) for h in kept)}"
                            "Connection: close\r\n\r\n".encode("latin-1"))
        with contextlib.suppress(ConnectionError):
            await target_writer.drain()
        await _pipe_both(reader, writer, target_reader, target_writer, bytearray())
