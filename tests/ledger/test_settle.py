"""Settle, release and log: each closes a hold at most once and keeps used == sum of logged quota."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.ledger import LogQuery, LogRow, Outcome, QuotaExceeded
from gateway.ledger.sqlite import SqliteLedger
from tests.ledger.conftest import invariant_violations, query


async def test_settle_charges_once_and_writes_one_row(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("r1", "alice", 1000, 300, model="gpt-4o")
    row = LogRow("r1", "alice", "gpt-4o", time=1.5, channel="c1", status=200, prompt_tokens=10,
                 completion_tokens=20, quota=120, first_byte_ms=30, stream=True, flags="x")
    assert await ledger.settle(row)
    assert await ledger.settle(row) is False
    assert await ledger.release(LogRow("r1", "alice", "gpt-4o")) is False
    balance = await ledger.balance("alice")
    assert (balance.used, balance.held, balance.requests) == (120, 0, 1)
    page = await ledger.logs(LogQuery())
    assert [r for _, r in page.rows] == [row]
    assert query(db_path, "SELECT state FROM holds") == [("settled",)]


async def test_release_is_free_and_final(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("r1", "alice", 1000, 300)
    assert await ledger.release(LogRow("r1", "alice", "m", quota=999, outcome=Outcome.ERROR, status=502))
    assert await ledger.settle(LogRow("r1", "alice", "m", quota=5)) is False
    assert await ledger.release(LogRow("r1", "alice", "m")) is False
    balance = await ledger.balance("alice")
    assert (balance.used, balance.held, balance.requests) == (0, 0, 1)
    assert query(db_path, "SELECT quota, status, outcome FROM logs") == [(0, 502, "error")]


async def test_concurrent_double_settles_charge_once(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("r1", "alice", None, 50)
    results = await asyncio.gather(*(ledger.settle(LogRow("r1", "alice", "m", quota=40)) for _ in range(10)),
                                   ledger.release(LogRow("r1", "alice", "m")))
    assert results.count(True) == 1 and results[0] is True
    assert (await ledger.balance("alice")).used == 40
    assert invariant_violations(db_path) == []


async def test_settle_without_hold_changes_nothing(ledger: SqliteLedger, db_path: str) -> None:
    assert await ledger.settle(LogRow("ghost", "alice", "m", quota=10)) is False
    assert query(db_path, "SELECT count(*) FROM logs") == [(0,)]
    assert await ledger.balances() == {}


async def test_settle_for_another_token_is_refused_and_the_hold_stays_open(
        ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("r1", "alice", None, 50)
    with pytest.raises(ValueError, match="belongs to token"):
        await ledger.settle(LogRow("r1", "mallory", "m", quota=1))
    assert query(db_path, "SELECT state FROM holds") == [("open",)]
    assert await ledger.settle(LogRow("r1", "alice", "m", quota=1))


async def test_negative_quota_is_refused(ledger: SqliteLedger) -> None:
    await ledger.hold("r1", "alice", None, 50)
    with pytest.raises(ValueError):
        await ledger.settle(LogRow("r1", "alice", "m", quota=-5))
    assert (await ledger.balance("alice")).held == 50


async def test_log_without_hold_charges_nothing(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.log(LogRow("refused", "alice", "m", quota=77, status=429, outcome=Outcome.ERROR))
    balance = await ledger.balance("alice")
    assert (balance.used, balance.held, balance.requests) == (0, 0, 1)
    assert query(db_path, "SELECT quota, status FROM logs") == [(0, 429)]
    with pytest.raises(ValueError):  # one row per request id
        await ledger.log(LogRow("refused", "alice", "m"))


@pytest.mark.parametrize("seed", range(6))
async def test_random_mixed_run_keeps_the_invariant(ledger: SqliteLedger, db_path: str, seed: int) -> None:
    rng = random.Random(seed)
    grants = {f"t{i}": rng.choice([None, 0, 500, 2000, 10_000]) for i in range(5)}
    charged: dict[str, int] = dict.fromkeys(grants, 0)

    async def call(n: int) -> None:
        token = rng.choice(list(grants))
        request_id = f"{seed}-{n}"
        amount = rng.randint(0, 400)
        await asyncio.sleep(rng.random() / 1000)
        try:
            await ledger.hold(request_id, token, grants[token], amount)
        except QuotaExceeded:
            await ledger.log(LogRow(request_id, token, "m", status=429, outcome=Outcome.ERROR))
            return
        await asyncio.sleep(rng.random() / 1000)
        choice = rng.random()
        if choice < 0.6:
            quota = rng.randint(0, amount * 2)  # sometimes above the hold, as Gemini thoughts can be
            assert await ledger.settle(LogRow(request_id, token, "m", quota=quota))
            charged[token] += quota
        elif choice < 0.9:
            assert await ledger.release(LogRow(request_id, token, "m", outcome=Outcome.ERROR))
        else:
            return  # left open, as an in-flight call would be
        if rng.random() < 0.3:  # a confused retry: must change nothing
            assert await ledger.settle(LogRow(request_id, token, "m", quota=1)) is False

    await asyncio.gather(*(call(n) for n in range(300)))
    assert invariant_violations(db_path) == []
    balances = await ledger.balances()
    assert {token: b.used for token, b in balances.items()} == {
        token: used for token, used in charged.items() if token in balances}


async def test_a_request_id_is_either_held_or_logged_never_both(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.log(LogRow("logged", "alice", "m", status=403, outcome=Outcome.ERROR))
    with pytest.raises(ValueError, match="already has its log row"):
        await ledger.hold("logged", "alice", None, 5)
    await ledger.hold("held", "alice", None, 5)
    with pytest.raises(ValueError, match="settle or release"):
        await ledger.log(LogRow("held", "alice", "m"))
    assert await ledger.settle(LogRow("held", "alice", "m", quota=2))
    assert invariant_violations(db_path) == []
