"""When the ledger reports a write done, against a power cut: with synchronous FULL a settlement, release or
log row only once the WAL holding it was fdatasynced; a hold as soon as it is committed (in the OS page
cache, safe from a killed process), because a hold carries no charge. The WAL sync is replaced by one the
test controls, so the order of "synced" and "answered" is observed, not assumed."""

from __future__ import annotations

import asyncio
import functools
import os
import threading

import pytest

from gateway.ledger import LedgerUnavailable, LogRow
from gateway.ledger import sqlite as ledger_module
from gateway.ledger.sqlite import SqliteLedger
from tests.ledger.conftest import invariant_violations, query


class GatedSync:
    """Stands in for the WAL fdatasync: records each call and waits while its gate is closed."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.fail: OSError | None = None

    def __call__(self, path: str) -> None:
        self.calls.append(path)
        self.started.set()
        if not self.gate.wait(10):
            raise AssertionError("gate never opened")
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def sync(monkeypatch: pytest.MonkeyPatch) -> GatedSync:
    gated = GatedSync()
    monkeypatch.setattr(ledger_module, "_fdatasync", gated)
    return gated


async def test_a_hold_is_answered_before_the_fsync_and_a_settlement_after(db_path: str, sync: GatedSync) -> None:
    ledger = SqliteLedger(db_path, settle_delay=0)
    await ledger.open()
    try:
        sync.gate.clear()
        await asyncio.wait_for(ledger.hold("r1", "alice", None, 10), 2)  # while its batch's sync waits
        assert query(db_path, "SELECT state FROM holds") == [("open",)]
        sync.gate.set()
        await asyncio.sleep(0.05)
        sync.started.clear()
        sync.gate.clear()
        settling = asyncio.create_task(ledger.settle(LogRow("r1", "alice", "m", quota=4)))
        await asyncio.to_thread(sync.started.wait, 5)
        await asyncio.sleep(0.05)
        assert not settling.done()  # committed (other connections see it), not yet on disk
        assert query(db_path, "SELECT quota FROM logs") == [(4,)]
        sync.gate.set()
        assert await asyncio.wait_for(settling, 5) is True
    finally:
        sync.gate.set()
        await ledger.close()
    assert sync.calls and set(sync.calls) == {f"{os.path.abspath(db_path)}-wal"}
    assert invariant_violations(db_path) == []


async def test_with_synchronous_normal_nothing_is_synced(db_path: str, sync: GatedSync) -> None:
    ledger = SqliteLedger(db_path, synchronous="NORMAL", settle_delay=0)
    await ledger.open()
    try:
        await ledger.hold("r1", "alice", None, 10)
        assert await ledger.settle(LogRow("r1", "alice", "m", quota=4))
        await ledger.log(LogRow("r2", "alice", "m", status=400))
    finally:
        await ledger.close()
    assert sync.calls == []


async def test_a_failed_sync_fails_what_waited_for_it_and_a_retry_finds_it_closed(
        db_path: str, sync: GatedSync) -> None:
    ledger = SqliteLedger(db_path, settle_delay=0)
    await ledger.open()
    try:
        await ledger.hold("r1", "alice", None, 10)
        sync.fail = OSError(5, "Input/output error")
        with pytest.raises(LedgerUnavailable, match="Input/output error"):
            await ledger.settle(LogRow("r1", "alice", "m", quota=4))
        sync.fail = None
        # What the settlement retry does: the commit did land, so a second close changes nothing.
        assert await ledger.settle(LogRow("r1", "alice", "m", quota=4)) is False
        assert (await ledger.balance("alice")).used == 4
    finally:
        await ledger.close()
    assert invariant_violations(db_path) == []


def test_the_real_sync_is_fdatasync_of_the_wal() -> None:
    ledger = SqliteLedger("/tmp/x/gateway.db")
    assert isinstance(ledger._sync_wal, functools.partial)
    assert ledger._sync_wal.args == ("/tmp/x/gateway.db-wal",)
    assert SqliteLedger("/tmp/x/gateway.db", synchronous="NORMAL")._sync_wal is None
