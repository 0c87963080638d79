"""Start real gateways for tests: a config built from Python data, a SQLite ledger in tmp_path, loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.app import create_app
from gateway.config import parse_config
from gateway.config.models import GatewayConfig
from gateway.runtime import Runtime
from gateway.web.keys import RUNTIME

CALLER_KEY = "sk-test-caller-7f3a9c1e5b"
ADMIN_KEY = "admin-test-key-4242"
PRICING = {
    "*": {"input": 1.0, "output": 2.0},
    "gpt-4o-mini*": {"input": 0.15, "output": 0.60, "cached_input": 0.075},
    "claude-*": {"input": 3.0, "output": 15.0, "cached_input": 0.30, "cache_write": 3.75},
    "gemini-*": {"input": 1.25, "output": 10.0, "cached_input": 0.31},
    "text-embedding-3-small": {"input": 0.02},
}


def channel(name: str, kind: str, url: str, *, key: str = "sk-upstream-secret-0001",
            models: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "base_url": url, "keys": [key], "models": models or ["*"], **extra}


def token(name: str = "alice", *, key: str = CALLER_KEY, quota: int | str | None = "$10", **extra: Any
          ) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "key": key, **extra}
    if quota is None:
        entry["unlimited"] = True
    else:
        entry["quota"] = quota
    return entry


def make_config(tmp_path: Path, *, channels: list[dict[str, Any]], tokens: list[dict[str, Any]] | None = None,
                pricing: dict[str, Any] | None = None, **sections: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "server": {"admin_key": ADMIN_KEY},
        "database": {"path": str(tmp_path / "gateway.db")},
        "pricing": PRICING if pricing is None else pricing,
        "channels": channels,
        "tokens": tokens if tokens is not None else [token()],
        **sections,
    }
    return parse_config(json.dumps(data), env={})


@dataclass
class Gateway:
    url: str
    app: web.Application

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]


@asynccontextmanager
async def running_gateway(config: GatewayConfig, **app_options: Any) -> AsyncIterator[Gateway]:
    app = create_app(config, **app_options)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Gateway(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        await runner.cleanup()
