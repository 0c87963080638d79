"""The pipeline's Responder over aiohttp: JSON replies and streamed bodies, noticing a vanished caller."""

from __future__ import annotations

from aiohttp import web

from gateway.pipeline import ClientGone


class AiohttpResponder:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    async def send_json(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.response = web.Response(status=status, body=body, headers=headers)
        try:
            await self.response.prepare(self.request)
            await self.response.write_eof()
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc

    async def start_stream(self, status: int, headers: dict[str, str]) -> None:
        response = web.StreamResponse(status=status, headers=headers)
        self.response = response
        try:
            await response.prepare(self.request)
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc

    async def write(self, data: bytes) -> None:
        assert self.response is not None
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ClientGone()
        try:
            await self.response.write(data)
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc

    async def finish(self) -> None:
        assert self.response is not None
        try:
            await self.response.write_eof()
        except (ConnectionResetError, ConnectionError) as exc:
            raise ClientGone() from exc
