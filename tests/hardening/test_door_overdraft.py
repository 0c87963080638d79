"""The overdraft race at every door (reliability.md §5.2 #20): a grant that covers N holds, 20·N calls at
once, exactly N admitted; the rest refused in the caller's protocol before any upstream call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from gateway.protocols import Protocol
from tests.fakes.script import Behaviour
from tests.hardening.door_env import DOORS, OPENAI, PATHS, auth, chat_body, doors, error_kind
from tests.harness import token

HOLDS = 5
# Each hold: the prompt estimate + 1000 output tokens at $1/$2 per 1M and 500,000 quota per USD, a
# little over 1000 quota; 5,500 covers exactly five whatever the small prompt estimate is.
GRANT = 5_500
REFUSED = {Protocol.OPENAI: "insufficient_quota", Protocol.ANTHROPIC: "rate_limit_error",
           Protocol.GEMINI: "RESOURCE_EXHAUSTED"}


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.value)
async def test_concurrent_calls_admit_exactly_what_the_grant_covers(tmp_path: Path, door: Protocol) -> None:
    async with doors(tmp_path, tokens=[token("alice", quota=GRANT)], pricing={"*": {"input": 1.0, "output": 2.0}},
                     billing={"quota_per_usd": 500_000}) as env:
        env.fakes[door].script.default = Behaviour(stall_before_headers=0.3)  # holds overlap
        body = chat_body(door, max_tokens=1000)

        async def one(http: aiohttp.ClientSession) -> str:
            async with http.post(env.url + PATHS[door], json=body, headers=auth(door)) as resp:
                payload = await resp.json()
                if resp.status == 200:
                    return "ok"
                assert resp.status == 429, payload
                assert error_kind(door, payload) == REFUSED[door]
                if door is OPENAI:
                    assert payload["error"]["code"] == "insufficient_quota"
                assert resp.headers["x-should-retry"] == "false"
                return "refused"

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            results = await asyncio.gather(*(one(http) for _ in range(20 * HOLDS)))
        assert results.count("ok") == HOLDS
        assert len(env.fakes[door].requests) == HOLDS
        rows = await env.check_books()  # every hold closed once, used == Σ quota, nothing held
        assert sum(row.outcome == "ok" for row in rows) == HOLDS
        assert len(rows) == 20 * HOLDS
        [balance] = (await env.gw.runtime.ledger.balances()).values()
        assert 0 < balance.used <= GRANT and balance.held == 0
