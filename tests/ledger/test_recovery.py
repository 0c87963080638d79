"""Abandoned holds: released once at the next start, after a clean stop or a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from gateway.ledger import LogQuery, LogRow, Outcome
from gateway.ledger.sqlite import SqliteLedger
from gateway.ledger.writes import ABANDONED_STATUS
from tests.ledger.conftest import invariant_violations, query

REPO = Path(__file__).resolve().parents[2]


async def test_holds_left_by_a_previous_instance_are_abandoned_once(db_path: str) -> None:
    first = SqliteLedger(db_path, clock=lambda: 100.0)
    assert await first.open() == 0
    await first.hold("r1", "alice", 1000, 300, model="gpt-4o")
    await first.hold("r2", "alice", 1000, 200)
    await first.hold("r3", "bob", None, 50)
    assert await first.settle(LogRow("r2", "alice", "m", quota=150))
    await first.close()  # closing does not settle holds: the pipeline does that before

    second = SqliteLedger(db_path, clock=lambda: 200.0)
    assert await second.open() == 2
    assert await second.open() == 0  # opening the same instance again is a no-op
    await second.hold("r4", "alice", 1000, 100)  # this instance's own hold survives its reopen
    rows = {row.request_id: row for _, row in (await second.logs(LogQuery(outcome="abandoned"))).rows}
    assert sorted(rows) == ["r1", "r3"]
    assert rows["r1"].model == "gpt-4o" and rows["r1"].time == 100.0
    assert all(r.quota == 0 and r.status == ABANDONED_STATUS and r.outcome is Outcome.ABANDONED
               for r in rows.values())
    alice = await second.balance("alice")
    assert (alice.used, alice.held, alice.requests) == (150, 100, 2)
    assert await second.release(LogRow("r1", "alice", "m")) is False  # abandoned is final
    await second.close()

    third = SqliteLedger(db_path)
    assert await third.open() == 1  # only r4, left by the second instance
    await third.close()
    fourth = SqliteLedger(db_path)
    assert await fourth.open() == 0
    await fourth.close()
    assert query(db_path, "SELECT count(*) FROM logs WHERE outcome = 'abandoned'") == [(3,)]
    assert query(db_path, "SELECT count(*) FROM holds WHERE state = 'open'") == [(0,)]
    assert invariant_violations(db_path) == []


def test_a_process_killed_while_holding_loses_no_settled_charge(db_path: str) -> None:
    child = subprocess.Popen([sys.executable, "-m", "tests.ledger.holder_process", db_path],
                             cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged: dict[str, int] = {}
    try:
        lines_after_ready = None
        while lines_after_ready is None or lines_after_ready < 40:
            line = child.stdout.readline()
            assert line, f"child exited early with {child.poll()}"
            if line.startswith("SETTLED"):
                _, request_id, quota = line.split()
                acknowledged[request_id] = int(quota)
            if lines_after_ready is not None:
                lines_after_ready += 1
            elif line.strip() == "READY":
                lines_after_ready = 0
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    async def reopen() -> tuple[int, int]:
        ledger = SqliteLedger(db_path)
        released = await ledger.open()
        await ledger.close()
        again = SqliteLedger(db_path)
        released_again = await again.open()
        await again.close()
        return released, released_again

    released, released_again = asyncio.run(reopen())
    assert released >= 10  # the ten unsettled first holds at least
    assert released_again == 0
    assert query(db_path, "SELECT count(*) FROM holds WHERE state = 'open'") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM logs WHERE outcome = 'abandoned'") == [(released,)]
    settled = dict(query(db_path, "SELECT request_id, quota FROM logs WHERE outcome = 'ok'"))
    assert acknowledged.items() <= settled.items()  # every settle the child saw return is there
    assert invariant_violations(db_path) == []


async def test_recovery_survives_an_orphan_that_already_has_a_row(db_path: str) -> None:
    first = SqliteLedger(db_path)
    await first.open()
    await first.hold("r1", "alice", None, 30)
    await first.hold("r2", "alice", None, 20)
    await first.close()
    # A state hold()/log() refuse to create, written behind their back: r1 open *and* logged.
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("INSERT INTO logs (request_id, token, model, time, outcome) "
                   "VALUES ('r1', 'alice', 'm', 1, 'error')")
        db.execute("UPDATE token_usage SET requests = requests + 1")
        db.commit()
    second = SqliteLedger(db_path)
    assert await second.open() == 2  # starts anyway; r1 keeps its one row
    assert (await second.balance("alice")).held == 0
    await second.close()
    assert query(db_path, "SELECT request_id, outcome FROM logs ORDER BY id") == [
        ("r1", "error"), ("r2", "abandoned")]
    assert invariant_violations(db_path) == []
