"""Which writes share a batch: settlements and releases alone wait a moment for a hold to join them (nobody
waits on them; a hold holds up its call), holds and log rows never wait, and close writes everything."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.ledger.base import LogRow
from gateway.ledger.sqlite import SqliteLedger
from gateway.ledger.writes import CloseOp, HoldOp, LogOp
from tests.ledger.conftest import invariant_violations, query

LONG = 5.0  # a settle_delay no test may ever wait out


class Recording(SqliteLedger):
    """Records the kinds of ops in every batch it commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []

    async def _write_batch(self, batch: list[Any]) -> None:
        kinds = {HoldOp: "hold", CloseOp: "close", LogOp: "log"}
        self.batches.append([kinds.get(type(queued.op), "other") for queued in batch])
        await super()._write_batch(batch)


async def test_a_settlement_waits_for_the_next_hold_and_they_commit_together(db_path: str) -> None:
    ledger = Recording(db_path, settle_delay=LONG)
    await ledger.open()
    try:
        await ledger.hold("r1", "alice", None, 10)
        settling = asyncio.create_task(ledger.settle(LogRow("r1", "alice", "m", quota=4)))
        await asyncio.sleep(0.05)
        assert not settling.done()  # waiting for company, not for the disk
        await asyncio.wait_for(ledger.hold("r2", "alice", None, 10), 1)  # the hold does not wait
        assert await asyncio.wait_for(settling, 1) is True
        assert ledger.batches == [["hold"], ["close", "hold"]]
    finally:
        await ledger.close()
    assert invariant_violations(db_path) == []


async def test_holds_and_log_rows_never_wait(db_path: str) -> None:
    ledger = Recording(db_path, settle_delay=LONG)
    await ledger.open()
    try:
        await asyncio.wait_for(ledger.hold("r1", "alice", None, 10), 1)
        await asyncio.wait_for(ledger.log(LogRow("r2", "alice", "m", status=429)), 1)
        assert ledger.batches == [["hold"], ["log"]]
    finally:
        await ledger.close()


async def test_without_a_hold_to_wait_for_a_settlement_lands_after_the_delay(db_path: str) -> None:
    ledger = SqliteLedger(db_path, settle_delay=0.05)
    await ledger.open()
    try:
        await ledger.hold("r1", "alice", None, 10)
        assert await asyncio.wait_for(ledger.settle(LogRow("r1", "alice", "m", quota=4)), 1) is True
    finally:
        await ledger.close()
    assert query(db_path, "SELECT used, held FROM token_usage") == [(4, 0)]


async def test_close_writes_waiting_settlements_at_once(db_path: str) -> None:
    ledger = SqliteLedger(db_path, settle_delay=LONG)
    await ledger.open()
    await ledger.hold("r1", "alice", None, 10)
    settling = asyncio.create_task(ledger.settle(LogRow("r1", "alice", "m", quota=4)))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(ledger.close(), 2)
    assert settling.done() and settling.result() is True
    assert query(db_path, "SELECT used, held FROM token_usage") == [(4, 0)]
