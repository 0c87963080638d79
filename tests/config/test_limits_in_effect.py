"""The operator limits of tests/config/test_limits.py change what a running gateway does."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import aiohttp

from tests.fakes.openai import OpenAIFake
from tests.harness import CALLER_KEY, channel, make_config, running_gateway

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
