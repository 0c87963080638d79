"""The ledger under stress, through the whole gateway (reliability §5.2 #20 at scale, #25, #27, disk full):
many tokens racing for their quotas, a database locked by another process, a full disk, and a ledger
write that fails after the caller was answered. The ledger's own unit tests are tests/ledger/."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger import retry
from gateway.ledger.base import LogQuery, Outcome
from gateway.ledger.sqlite import SqliteLedger
from gateway.ledger.writes import HoldOp
from tests.fakes.script import Behaviour
from tests.hardening.world import (
    ANTHROPIC,
    OPENAI,
    PROTOCOLS,
    World,
    assert_gateway_error,
    world,
)
from tests.harness import token
from tests.ledger.conftest import invariant_violations, query


def quick_busy_timeout(config: object) -> SqliteLedger:
    return SqliteLedger(config.database.path, busy_timeout_ms=200)  # type: ignore[attr-defined]


@contextmanager
def locked(path: str) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction on the ledger file, held until the block ends."""
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield other
        finally:
            other.execute("ROLLBACK")


def db_path(w: World) -> str:
    return w.gw.runtime.config.database.path


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "RETRY_DELAYS", (0.05,) * 100)


async def test_many_tokens_racing_each_get_exactly_what_their_quota_covers(tmp_path: Path) -> None:
    # The hold of one call, measured on an unlimited token; then 12 tokens whose quota covers 3 holds.
    async with world(tmp_path / "probe", tokens=[token("probe", quota=None)]) as probe:
        await probe.call(OPENAI, OPENAI, stream=False)
        [hold] = probe.books.amounts.values()
    names = [f"t{i:02d}" for i in range(12)]
    tokens = [token(name, key=f"sk-test-racer-{name}-000000", quota=3 * hold) for name in names]
    async with world(tmp_path, tokens=tokens) as w:
        w.fake(OPENAI).script.default = Behaviour(stall_before_headers=0.5)  # every hold before a settle

        async def ask(name: str) -> int:
            return (await w.call(OPENAI, OPENAI, stream=False, key=f"sk-test-racer-{name}-000000")).status

        statuses = await asyncio.gather(*(ask(name) for name in names for _ in range(8)))
        rows = await w.check_books()
    by_token = {name: sorted(r.status for r in rows if r.token == name) for name in names}
    assert all(found == [200] * 3 + [429] * 5 for found in by_token.values()), by_token
    assert sorted(statuses) == [200] * 36 + [429] * 60
    assert len(w.fake(OPENAI).requests) == 36  # a refused call never reaches an upstream
    assert invariant_violations(db_path(w)) == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_locked_database_is_a_clean_503_before_any_upstream_call(tmp_path: Path, stream: bool) -> None:
    async with world(tmp_path, ledger_factory=quick_busy_timeout) as w:
        with locked(db_path(w)):
            for door in PROTOCOLS:
                for channel_type in PROTOCOLS:
                    started = time.monotonic()
                    reply = await w.call(door, channel_type, stream=stream)
                    assert time.monotonic() - started < 2  # busy_timeout, not a hung handler
                    assert "ledger is unavailable" in assert_gateway_error(reply, door, 503)
        assert all(fake.requests == [] for fake in w.fakes.values())
        assert all(calls == ["hold-refused"] for calls in w.books.calls.values())
        assert await w.check_books() == []  # nothing deducted, nothing written
        # The lock is gone: the same calls go through.
        assert (await w.call(ANTHROPIC, OPENAI, stream=stream)).status == 200
        [row] = await w.check_books()
        assert row.outcome is Outcome.OK and row.quota > 0
    assert invariant_violations(db_path(w)) == []


async def test_a_settlement_that_meets_a_lock_is_retried_until_the_hold_closes(tmp_path: Path) -> None:
    async with world(tmp_path, ledger_factory=quick_busy_timeout) as w:
        w.fake(OPENAI).script.reply(stall_before_headers=0.4)
        call = asyncio.create_task(w.call(OPENAI, OPENAI, stream=False))
        await asyncio.wait_for(w.fake(OPENAI).wait_for_requests(1), 5)  # the hold is taken
        with locked(db_path(w)):
            reply = await call  # answered; its settlement fails on the lock
            await w.gw.runtime.idle()
            assert retry.pending() == 1
            assert (await w.gw.runtime.ledger.balance("alice")).held > 0
        for _ in range(100):
            if not retry.pending():
                break
            await asyncio.sleep(0.05)
        assert reply.status == 200
        [row] = await w.check_books()  # settled once, after the lock went away; nothing held
        assert row.outcome is Outcome.OK and row.quota > 0
    assert invariant_violations(db_path(w)) == []


async def test_a_full_disk_refuses_new_calls_and_leaves_no_half_written_state(tmp_path: Path) -> None:
    """The file may not grow (SQLite's max_page_count on the gateway's own writer connection stands in
    for a full disk: the same SQLITE_FULL error, without filling a real file system)."""
    async with world(tmp_path, ledger_factory=quick_busy_timeout) as w:
        ledger = w.books.inner
        assert isinstance(ledger, SqliteLedger)

        def cap(db: sqlite3.Connection, pages: int | None) -> None:
            size = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {size if pages is None else pages}")

        await w.call(OPENAI, OPENAI, stream=False)
        await ledger._write_db.run(cap, None)
        statuses = []
        for index in range(200):  # until the file is full: rows need pages first, holds soon after
            before = sum(len(f.requests) for f in w.fakes.values())
            door = PROTOCOLS[index % 3]
            reply = await w.call(door, OPENAI, stream=index % 2 == 0, prompt="fill " * 200)
            statuses.append(reply.status)
            if reply.status == 503:
                assert "ledger is unavailable" in assert_gateway_error(reply, door, 503)
                assert sum(len(f.requests) for f in w.fakes.values()) == before  # never reached upstream
                break
        assert statuses[-1] == 503 and set(statuses[:-1]) <= {200}, statuses
        await w.gw.runtime.idle()
        assert invariant_violations(db_path(w)) == []  # consistent even now: whole batches or nothing
        await ledger._write_db.run(cap, 1 << 30)  # space again: the waiting settlements land
        for _ in range(100):
            if not retry.pending():
                break
            await asyncio.sleep(0.05)
        rows = await w.check_books()
        assert len(rows) == len(statuses) and all(r.outcome is Outcome.OK for r in rows)
        assert (await w.call(PROTOCOLS[2], OPENAI, stream=True)).status == 200
    assert invariant_violations(db_path(w)) == [] and query(db_path(w), "PRAGMA integrity_check") == [("ok",)]


async def test_a_caller_cancelled_just_as_its_hold_lands_gets_it_back(tmp_path: Path) -> None:
    """Found by the soak: a caller hanging up in the instant between its hold being committed and its
    task resuming left the hold open until the next start. The moment is hit exactly here: the
    caller is cancelled right after the writer resolved its hold."""

    class Racing(SqliteLedger):
        victim: asyncio.Task[None] | None = None

        def _resolve(self, queued: Any, result: Any) -> None:
            super()._resolve(queued, result)
            if self.victim is not None and isinstance(queued.op, HoldOp):
                self.victim.cancel()  # the hold's result is set; the caller has not run yet

    path = str(tmp_path / "ledger.db")
    ledger = Racing(path)
    await ledger.open()
    try:
        ledger.victim = asyncio.create_task(ledger.hold("r1", "alice", 1000, 10, model="m"))
        with pytest.raises(asyncio.CancelledError):
            await ledger.victim
        ledger.victim = None
        await ledger.hold("r2", "alice", 1000, 20)  # queued after the release: a write barrier
        balance = await ledger.balance("alice")
        assert (balance.held, balance.used, balance.requests) == (20, 0, 1)
        [(_, row)] = (await ledger.logs(LogQuery())).rows
        assert (row.request_id, row.status, row.outcome, row.quota) == ("r1", 499, Outcome.CANCELLED, 0)
    finally:
        await ledger.close()
    assert invariant_violations(path) == []
