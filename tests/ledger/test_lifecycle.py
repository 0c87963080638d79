"""Opening, migrating, closing, and callers that go away while their hold is being taken."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from gateway.ledger import LedgerUnavailable, LogQuery, LogRow, Outcome
from gateway.ledger.schema import SCHEMA_VERSION
from gateway.ledger.sqlite import SqliteLedger
from gateway.ledger.writes import WAL_CHECKPOINT_PAGES
from tests.ledger.conftest import invariant_violations, query


async def test_open_creates_the_directory_and_a_current_wal_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "gateway.db")
    ledger = SqliteLedger(path)
    assert await ledger.open() == 0
    synchronous = await ledger._write_db.run(_pragma, "synchronous")
    foreign_keys = await ledger._write_db.run(_pragma, "foreign_keys")
    await ledger.close()
    # 1 = NORMAL: with FULL configured the writer fdatasyncs the WAL itself after each commit
    # (tests/ledger/test_durability.py), so that holds can be answered before the disk is done.
    assert (synchronous, foreign_keys) == (1, 1)
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(path, "PRAGMA journal_mode") == [("wal",)]



def _pragma(db: sqlite3.Connection, name: str) -> object:
    return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_a_schema_newer_than_the_code_is_refused(db_path: str) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerUnavailable, match="newer"):
        await SqliteLedger(db_path).open()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SqliteLedger("x.db", synchronous="SOMETIMES")
    with pytest.raises(ValueError):
        SqliteLedger("x.db", busy_timeout_ms=-1)


async def test_close_finishes_queued_writes_and_truncates_the_wal(db_path: str) -> None:
    ledger = SqliteLedger(db_path)
    await ledger.open()
    holds = [asyncio.create_task(ledger.hold(f"r{i}", "alice", None, 1)) for i in range(100)]
    await asyncio.sleep(0)  # every hold is queued, none awaited
    await ledger.close()
    assert all(task.done() and task.exception() is None for task in holds)
    assert query(db_path, "SELECT count(*) FROM holds") == [(100,)]
    assert _wal_bytes(db_path) == 0


def _wal_bytes(db_path: str) -> int:
    wal = Path(db_path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _stuck_writer(db_path: str) -> tuple[SqliteLedger, sqlite3.Connection, asyncio.Task[None]]:
    """A ledger whose writer is blocked in BEGIN IMMEDIATE by another connection's lock."""
    ledger = SqliteLedger(db_path, busy_timeout_ms=10_000)
    await ledger.open()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    first = asyncio.create_task(ledger.hold("first", "alice", None, 1))
    for _ in range(5000):  # until the writer has taken the batch and waits on the lock
        if ledger._inflight:
            return ledger, other, first
        await asyncio.sleep(0.001)
    raise AssertionError("the writer never took the batch")


async def test_a_hold_cancelled_in_flight_is_released_once_committed(db_path: str) -> None:
    ledger, other, first = await _stuck_writer(db_path)
    first.cancel()
    other.execute("ROLLBACK")
    other.close()
    with pytest.raises(asyncio.CancelledError):
        await first
    await ledger.log(LogRow("marker", "alice", "m"))  # queued behind the automatic release
    assert query(db_path, "SELECT state FROM holds WHERE request_id = 'first'") == [("released",)]
    rows = {row.request_id: row for _, row in (await ledger.logs(LogQuery(limit=1000))).rows}
    assert rows["first"].outcome is Outcome.CANCELLED and rows["first"].status == 499
    assert (await ledger.balance("alice")).held == 0
    await ledger.close()
    assert invariant_violations(db_path) == []


async def test_a_hold_cancelled_before_its_batch_is_never_taken(db_path: str) -> None:
    ledger, other, first = await _stuck_writer(db_path)
    second = asyncio.create_task(ledger.hold("second", "alice", None, 1))
    await asyncio.sleep(0)  # queued behind the stuck batch
    second.cancel()
    other.execute("ROLLBACK")
    other.close()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await ledger.log(LogRow("marker", "alice", "m"))
    assert query(db_path, "SELECT request_id FROM holds") == [("first",)]
    await ledger.close()


async def test_a_settle_whose_caller_is_cancelled_still_lands(db_path: str) -> None:
    ledger = SqliteLedger(db_path)
    await ledger.open()
    await ledger.hold("r1", "alice", None, 10)
    settle = asyncio.create_task(ledger.settle(LogRow("r1", "alice", "m", quota=7)))
    await asyncio.sleep(0)
    settle.cancel()
    await ledger.close()
    assert query(db_path, "SELECT used, held FROM token_usage") == [(7, 0)]


def test_no_stray_files_beside_the_database(tmp_path: Path) -> None:
    async def run() -> None:
        ledger = SqliteLedger(str(tmp_path / "g.db"))
        await ledger.open()
        await ledger.hold("r", "t", None, 1)
        await ledger.close()
    asyncio.run(run())
    assert sorted(os.listdir(tmp_path)) == ["g.db"]


async def test_a_cancelled_writer_task_fails_its_callers_instead_of_hanging(db_path: str) -> None:
    ledger, other, first = await _stuck_writer(db_path)
    second = asyncio.create_task(ledger.hold("second", "alice", None, 1))
    await asyncio.sleep(0)
    assert ledger._write_task is not None
    ledger._write_task.cancel()
    other.execute("ROLLBACK")
    other.close()
    for task in (first, second):
        with pytest.raises(LedgerUnavailable):
            await asyncio.wait_for(task, timeout=10)
    with pytest.raises(LedgerUnavailable):
        await ledger.hold("third", "alice", None, 1)
    await ledger.close()
    assert invariant_violations(db_path) == []


async def test_the_wal_is_checkpointed_while_the_ledger_runs(db_path: str) -> None:
    """Checkpoints come from the commits themselves (wal_autocheckpoint), not only from close(): the WAL
    file never grows much past WAL_CHECKPOINT_PAGES frames, however many calls go through."""
    frame = 4096 + 24  # a page and its frame header
    ledger = SqliteLedger(db_path, synchronous="NORMAL", settle_delay=0)
    await ledger.open()
    try:
        largest = 0
        for i in range(150):  # ~16 frames a call (hold, then settlement): twice the mark or more
            await ledger.hold(f"r{i}", "alice", None, 10)
            assert await ledger.settle(LogRow(f"r{i}", "alice", "m", quota=1))
            largest = max(largest, _wal_bytes(db_path))
        written = (await ledger.balance("alice")).used
    finally:
        await ledger.close()
    assert written == 150
    assert WAL_CHECKPOINT_PAGES * frame < largest < (WAL_CHECKPOINT_PAGES + 100) * frame
