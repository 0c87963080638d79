"""When SQLite cannot take a write, callers get LedgerUnavailable promptly and the writer lives on."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from gateway.ledger import LedgerUnavailable, LogRow
from gateway.ledger.sqlite import SqliteLedger
from tests.ledger.conftest import invariant_violations, query


async def test_a_lock_held_past_busy_timeout_fails_the_batch_not_the_writer(
        ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("before", "alice", None, 10)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer that does not let go
        results = await asyncio.wait_for(asyncio.gather(
            ledger.hold("during", "alice", None, 10),
            ledger.settle(LogRow("before", "alice", "m", quota=3)), return_exceptions=True), timeout=10)
        assert all(isinstance(r, LedgerUnavailable) for r in results), results
        other.execute("ROLLBACK")
    # Nothing of the failed batch was written; the same calls succeed once the lock is gone.
    assert query(db_path, "SELECT request_id, state FROM holds") == [("before", "open")]
    assert await ledger.settle(LogRow("before", "alice", "m", quota=3))
    await ledger.hold("during", "alice", None, 10)
    assert invariant_violations(db_path) == []


async def test_a_full_disk_fails_the_batch_and_a_later_retry_succeeds(
        ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("r1", "alice", None, 10)
    pages = query(db_path, "PRAGMA page_count")[0][0]

    def cap_file_size(db: sqlite3.Connection, limit: int) -> None:
        # The writer's own connection, on its own thread: SQLite answers SQLITE_FULL past this size.
        db.execute(f"PRAGMA max_page_count = {limit}")

    await ledger._write_db.run(cap_file_size, pages)
    big_error = "x" * 200_000  # a row that needs pages the file may not grow into
    with pytest.raises(LedgerUnavailable, match="full"):
        await ledger.settle(LogRow("r1", "alice", "m", quota=4, error=big_error))
    assert query(db_path, "SELECT state FROM holds") == [("open",)]
    await ledger._write_db.run(cap_file_size, 2**30)
    assert await ledger.settle(LogRow("r1", "alice", "m", quota=4, error=big_error))
    assert (await ledger.balance("alice")).used == 4
    assert invariant_violations(db_path) == []


async def test_a_locked_file_at_open_is_reported_as_unavailable(db_path: str) -> None:
    ready = SqliteLedger(db_path)
    await ready.open()
    await ready.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(LedgerUnavailable):
            await SqliteLedger(db_path, busy_timeout_ms=50).open()
        other.execute("ROLLBACK")


async def test_writes_after_close_are_refused(db_path: str) -> None:
    ledger = SqliteLedger(db_path)
    with pytest.raises(LedgerUnavailable):
        await ledger.hold("r", "t", None, 1)  # not opened yet
    await ledger.open()
    await ledger.close()
    with pytest.raises(LedgerUnavailable):
        await ledger.hold("r", "t", None, 1)
    with pytest.raises(LedgerUnavailable):
        await ledger.balances()
