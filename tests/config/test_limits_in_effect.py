"""The operator limits of tests/config/test_limits.py change what a running gateway does."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config import parse_config
from gateway.config.models import Channel
from gateway.reload import Reloader
from gateway.runtime import Runtime
from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, PRICING, channel, make_config, running_gateway, token

NOW = 1_700_000_000.0
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_busy_timeout_bounds_the_wait_for_a_locked_ledger(tmp_path: Path, fake_openai: OpenAIFake) -> None:
    db = str(tmp_path / "gateway.db")
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])],
                         database={"path": db, "busy_timeout_ms": 300})
    async with running_gateway(config) as gw, aiohttp.ClientSession() as http:
        with closing(sqlite3.connect(db, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # another process writing: the hold must wait for it
            started = time.monotonic()
            async with http.post(gw.url + "/v1/chat/completions", json=CHAT,
                                 headers={"Authorization": f"Bearer {CALLER_KEY}"}) as reply:
                status = reply.status
            waited = time.monotonic() - started
            other.execute("ROLLBACK")
    assert status == 503
    assert 0.25 < waited < 2.5  # 300 ms, not the 5 s default
    assert fake_openai.requests == []


def routed(tmp_path: Path, **routing: float) -> dict[str, Any]:
    return {"database": {"path": str(tmp_path / "gateway.db")}, "pricing": PRICING, "routing": routing,
            "channels": [channel("oa", "openai", "http://127.0.0.1:9", key="sk-upstream-a-0001")],
            "tokens": [token()]}


@asynccontextmanager
async def routed_gateway(tmp_path: Path, **routing: float) -> AsyncIterator[tuple[Runtime, Channel]]:
    """A gateway whose one channel `oa` is never called, started with these routing limits."""
    async with running_gateway(parse_config(json.dumps(routed(tmp_path, **routing)), env={})) as gw:
        oa = gw.runtime.config.channel("oa")
        assert oa is not None
        yield gw.runtime, oa


async def reload_with(tmp_path: Path, rt: Runtime, **routing: float) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(json.dumps(routed(tmp_path, **routing)))
    result = await Reloader(rt, path).reload("test")
    assert result.ok, result.problems


async def test_key_set_aside_seconds_applies_at_start_and_on_reload(tmp_path: Path) -> None:
    async with routed_gateway(tmp_path, key_set_aside_seconds=600) as (rt, oa):
        rt.channels.set_key_aside(oa, 0, now=NOW, status=401)
        assert rt.channels.usable_keys(oa, NOW + 599) == []
        assert rt.channels.usable_keys(oa, NOW + 600) == [0]  # not the default hour

        await reload_with(tmp_path, rt, key_set_aside_seconds=900)
        later = NOW + 1000
        rt.channels.set_key_aside(oa, 0, now=later, status=403)
        assert rt.channels.usable_keys(oa, later + 899) == []
        assert rt.channels.usable_keys(oa, later + 900) == [0]


async def test_max_cooldown_seconds_applies_at_start_and_on_reload(tmp_path: Path) -> None:
    async with routed_gateway(tmp_path, max_cooldown_seconds=120) as (rt, oa):
        rt.channels.record_failure(oa, "gpt-4o", now=NOW, status=429, message="slow down", key_index=0,
                                   cooldown=30, retry_after="86400")
        assert rt.channels.cooling_until(oa, "gpt-4o", NOW) == NOW + 120  # not the default hour

        await reload_with(tmp_path, rt, max_cooldown_seconds=300)
        rt.channels.cool(oa, "gpt-4o-mini", now=NOW, seconds=86400)
        assert rt.channels.cooling_until(oa, "gpt-4o-mini", NOW) == NOW + 300
