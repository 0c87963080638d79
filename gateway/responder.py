"""How the pipeline answers a caller, whatever serves the connection (aiohttp in gateway/web)."""

from __future__ import annotations

from typing import Protocol


class ClientGone(Exception):
    """The caller closed the connection while we were writing to it."""


class Responder(Protocol):
    """How the pipeline answers the caller; the web layer implements it over aiohttp."""

    async def send_json(self, status: int, body: bytes, headers: dict[str, str]) -> None: ...

    async def start_stream(self, status: int, headers: dict[str, str]) -> None: ...

    async def write(self, data: bytes) -> None:
        """Raises ClientGone once the caller has gone."""

    async def finish(self) -> None: ...
