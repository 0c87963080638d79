"""The pipeline's Responder over aiohttp: JSON replies and streamed bodies, noticing a vanished caller.

Every write has a deadline (`write_timeout`): aiohttp waits for the socket to drain once its buffer
passes 64 KiB, and a caller that stops reading would otherwise hold the call, its upstream connection
and its hold forever. Past the deadline the caller's connection is aborted (not flushed: it would block
again) and the pipeline sees ClientGone, so it settles what was delivered and hangs up upstream. Bodies
and events are written in pieces of PIECE bytes, each with its own deadline, so the deadline bounds a
stall (like nginx's send_timeout), not the time a slow but reading caller needs for a large body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web

from gateway.responder import ClientGone
from gateway.web.keys import SENT_STATUS

PIECE = 64 * 1024
UNBLOCKED_BYTES = 16 * 1024


class AiohttpResponder:
    def __init__(self, request: web.Request, *, write_timeout: float = 30.0) -> None:
        self.request = request
        # Seconds one write may wait for the caller to take bytes off the socket
        # (server.write_timeout_seconds).
        self.write_timeout = write_timeout
        self.response: web.StreamResponse | None = None

    async def send_json(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        response = _StreamReply(status=status, headers=headers)
        response.content_length = len(body)
        self.response = response
        transport = self.request.transport
        if len(body) <= UNBLOCKED_BYTES and transport is not None and not transport.get_write_buffer_size():
            # The usual reply: headers and body stay below the transport's pause threshold and nothing
            # waits in its buffer, so no step can wait for the caller (see write()): no deadline, and
            # the body goes out with the end of the reply in one write.
            try:
                await response.prepare(self.request)
                await response.write_eof(body)
            except (ConnectionResetError, ConnectionError) as exc:
                raise ClientGone() from exc
            self.request[SENT_STATUS] = status
            return
        # One timeout context for the whole reply (cheaper than one per step), its deadline moved
        # forward before every step: each step still gets `write_timeout` to make progress.
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline:
                deadline.reschedule(loop.time() + self.write_timeout)
                await response.prepare(self.request)
                for start in range(0, len(body), PIECE):
                    deadline.reschedule(loop.time() + self.write_timeout)
                    await response.write(body[start:start + PIECE])
                deadline.reschedule(loop.time() + self.write_timeout)
                await response.write_eof()
            self.request[SENT_STATUS] = status  # complete: a hang-up from now on is not the call's
        except TimeoutError:
            self._abort()
            raise ClientGone() from None
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc

    async def start_stream(self, status: int, headers: dict[str, str]) -> None:
        response = _StreamReply(status=status, headers=headers)
        self.response = response
        await self._bounded(response.prepare(self.request))

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ClientGone()
        if len(data) <= UNBLOCKED_BYTES and not transport.get_write_buffer_size():
            # Nothing waits in the socket's buffer and this piece stays below the transport's pause
            # threshold (64 KiB by default), so the write cannot wait for the caller: no deadline
            # needed. A caller that stops reading leaves bytes buffered, and the next write has one.
            try:
                await self.response.write(data)
            except (ConnectionResetError, ConnectionError) as exc:
                raise ClientGone() from exc
            return
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        assert self.response is not None
        for start in range(0, len(data), PIECE):
            await self._bounded(self.response.write(data[start:start + PIECE]))

    async def finish(self) -> None:
        assert self.response is not None
        await self._bounded(self.response.write_eof())
        self.request[SENT_STATUS] = self.response.status

    async def _bounded(self, write: Awaitable[object]) -> None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await write
        except TimeoutError:
            self._abort()
            raise ClientGone() from None
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc

    def _abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()  # the caller stopped reading: drop what it never took


class _StreamReply(web.StreamResponse):
    # The status line and headers leave with the first body bytes: one send, and one packet for the
    # caller's first byte instead of two (aiohttp's own Response does the same).
    _send_headers_immediately = False
