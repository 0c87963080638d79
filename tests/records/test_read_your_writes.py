"""A call's settlement is written after its answer without the handler waiting for it; whatever reads the
ledger afterwards (the operator API, a token's own balance) still sees it."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config.models import GatewayConfig
from gateway.ledger.base import LogRow
from gateway.ledger.sqlite import SqliteLedger
from gateway.ledger.writes import CloseOp
from tests.fakes.openai import OpenAIFake
from tests.harness import ADMIN_KEY, CALLER_KEY, channel, make_config, running_gateway

SETTLE_DELAY = 0.4
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


class SlowSettlement(SqliteLedger):
    """A batch holding a settlement commits SETTLE_DELAY late (a slow disk, a busy writer)."""

    async def _write_batch(self, batch: list[Any]) -> None:
        if any(isinstance(queued.op, CloseOp) for queued in batch):
            await asyncio.sleep(SETTLE_DELAY)
        await super()._write_batch(batch)


def slow_ledger(config: GatewayConfig) -> SqliteLedger:
    return SlowSettlement(config.database.path)


def rows_in_file(path: str) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM logs").fetchone()[0])


async def test_the_answer_does_not_wait_for_the_settlement_and_later_reads_see_it(
        tmp_path: Path, fake_openai: OpenAIFake) -> None:
    config = make_config(tmp_path, channels=[channel("oa", "openai", fake_openai.url, key=fake_openai.keys[0])])
    async with running_gateway(config, ledger_factory=slow_ledger) as gw, aiohttp.ClientSession() as http:
        async with http.post(gw.url + "/v1/chat/completions", json=CHAT,
                             headers={"Authorization": f"Bearer {CALLER_KEY}"}) as reply:
            assert reply.status == 200
            await reply.read()
        assert rows_in_file(config.database.path) == 0  # answered; the settlement has not landed yet
        assert gw.runtime.in_flight == 1  # ... and the call still counts until it does
        async with http.get(gw.url + "/api/logs", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as logs:
            rows = (await logs.json())["data"]
        async with http.get(gw.url + "/api/token/self",
                            headers={"Authorization": f"Bearer {CALLER_KEY}"}) as me:
            balance = await me.json()
        assert [row["outcome"] for row in rows] == ["ok"] and rows[0]["quota"] > 0
        assert balance["used"] == rows[0]["quota"]
        await gw.runtime.idle()
        assert gw.runtime.in_flight == 0


async def test_a_read_waits_for_every_write_queued_before_it_even_when_the_last_was_given_up(
        tmp_path: Path) -> None:
    ledger = SlowSettlement(str(tmp_path / "gateway.db"), settle_delay=0)
    await ledger.open()
    try:
        await ledger.hold("r1", "alice", None, 10)
        settling = asyncio.create_task(ledger.settle(LogRow("r1", "alice", "m", quota=4)))
        await asyncio.sleep(0)  # queued, its batch held back
        abandoned = asyncio.create_task(ledger.hold("r2", "alice", None, 1))
        await asyncio.sleep(0)
        abandoned.cancel()  # the last queued write, done at once: a read must not take it as the mark
        balance = await ledger.balance("alice")
        assert (balance.used, balance.held) == (4, 0)
        assert await settling is True
    finally:
        await ledger.close()
