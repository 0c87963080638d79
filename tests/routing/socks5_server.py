"""A tiny SOCKS5 server (RFC 1928, no-auth CONNECT only) that records what passes through it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from dataclasses import dataclass, field

from .loopback import LoopbackServer


@dataclass
class Tunnel:
    atyp: int  # 1 IPv4, 3 domain name (the client let the proxy resolve), 4 IPv6
    host: str
    port: int
    sent: bytearray = field(default_factory=bytearray)  # client -> target bytes relayed


class Socks5Server(LoopbackServer):
    """`stall=True` accepts connections but never answers the greeting (a hung proxy)."""

    def __init__(self, *, stall: bool = False) -> None:
        super().__init__()
        self.stall = stall
        self.tunnels: list[Tunnel] = []

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.stall:
            await asyncio.sleep(3600)
        await self._handshake(reader, writer)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(b"\x05\x00")
        version, command, _, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:  # only CONNECT
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        try:
            target_reader, target_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        tunnel = Tunnel(atyp, host, port)
        self.tunnels.append(tunnel)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await writer.drain()
        await _pipe_both(reader, writer, target_reader, target_writer, tunnel.sent)


async def _pipe_both(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                     target_r: asyncio.StreamReader, target_w: asyncio.StreamWriter,
                     record: bytearray) -> None:
    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, log: bytearray | None) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if log is not None:
                    log += data
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(OSError):
            dst.write_eof()

    try:
        await asyncio.gather(pipe(client_r, target_w, record), pipe(target_r, client_w, None))
    finally:
        target_w.close()
