"""A webhook receiver for tests: records every POST; `/ok` answers 204, `/fail` 500, `/hang` never."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.observability.helpers import eventually


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def events(self, path: str = "/ok") -> list[str]:
        return [r.json["event"] for r in self.on(path)]

    async def wait_for(self, count: int, path: str = "/ok") -> list[Received]:
        """The requests on `path` once there are `count` of them (within five seconds)."""
        await eventually(lambda: len(self.on(path)) >= count)
        return self.on(path)


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def handle(request: web.Request) -> web.StreamResponse:
        receiver.received.append(Received(request.path, request.query_string, dict(request.headers),
                                          await request.read()))
        if request.path == "/hang":
            await asyncio.sleep(3600)
        return web.Response(status=500 if request.path == "/fail" else 204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
