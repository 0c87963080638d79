"""Holds: the quota check and the hold are one atomic step, also under concurrency and in one batch."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ledger import LogRow, QuotaExceeded
from gateway.ledger.sqlite import SqliteLedger
from tests.ledger.conftest import invariant_violations, query


async def _admitted(ledger: SqliteLedger, token: str, grant: int | None, amount: int, n: int) -> int:
    results = await asyncio.gather(
        *(ledger.hold(f"{token}-{i}", token, grant, amount) for i in range(n)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert all(r is None or isinstance(r, QuotaExceeded) for r in results), results
    return n - len(refused)


@pytest.mark.parametrize("k", [0, 1, 17, 50])
async def test_fifty_concurrent_holds_admit_exactly_k(ledger: SqliteLedger, db_path: str, k: int) -> None:
    assert await _admitted(ledger, "alice", grant=7 * k, amount=7, n=50) == k
    assert (await ledger.balance("alice")).held == 7 * k
    assert query(db_path, "SELECT count(*) FROM holds WHERE state = 'open'") == [(k,)]
    assert invariant_violations(db_path) == []


async def test_concurrent_holds_count_what_is_already_used(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("first", "bob", 100, 40)
    assert await ledger.settle(LogRow("first", "bob", "m", quota=40))
    # 100 − 40 used leaves room for exactly three holds of 20 (a fourth would need 80).
    assert await _admitted(ledger, "bob", grant=100, amount=20, n=50) == 3
    assert await ledger.balance("bob") == (await ledger.balances())["bob"]
    assert (await ledger.balance("bob")).held == 60


async def test_unlimited_grant_admits_everything_and_still_records_holds(
        ledger: SqliteLedger, db_path: str) -> None:
    assert await _admitted(ledger, "root", grant=None, amount=10**12, n=50) == 50
    assert (await ledger.balance("root")).held == 50 * 10**12
    assert query(db_path, "SELECT count(*) FROM holds WHERE token = 'root'") == [(50,)]


async def test_refused_hold_records_nothing(ledger: SqliteLedger, db_path: str) -> None:
    with pytest.raises(QuotaExceeded):
        await ledger.hold("r1", "newcomer", 5, 6)
    assert query(db_path, "SELECT count(*) FROM holds") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM token_usage") == [(0,)]
    await ledger.hold("r2", "known", 10, 10)
    with pytest.raises(QuotaExceeded):
        await ledger.hold("r3", "known", 10, 1)
    assert query(db_path, "SELECT request_id FROM holds") == [("r2",)]
    assert await ledger.balance("known") == (await ledger.balances())["known"]
    assert (await ledger.balance("known")).held == 10


async def test_zero_amount_hold_is_allowed_until_the_grant_is_overdrawn(ledger: SqliteLedger) -> None:
    await ledger.hold("a", "t", 0, 0)
    await ledger.hold("b", "t", 10, 10)
    assert await ledger.settle(LogRow("b", "t", "m", quota=15))  # actual cost above the hold
    with pytest.raises(QuotaExceeded):
        await ledger.hold("c", "t", 10, 0)


async def test_a_batch_sees_its_earlier_ops(ledger: SqliteLedger) -> None:
    await ledger.hold("old", "t", 10, 10)
    # Queued back to back (no await between), so the writer applies them as one batch, in order:
    # the release frees the room the next hold needs, the hold after that finds none left.
    results = await asyncio.gather(
        ledger.release(LogRow("old", "t", "m")), ledger.hold("new", "t", 10, 10),
        ledger.hold("newer", "t", 10, 1), return_exceptions=True)
    assert results[0] is True
    assert results[1] is None
    assert isinstance(results[2], QuotaExceeded)


async def test_a_failing_op_does_not_abort_its_batch(ledger: SqliteLedger, db_path: str) -> None:
    await ledger.hold("dup", "t", None, 1)
    results = await asyncio.gather(
        ledger.hold("ok-1", "t", None, 1), ledger.hold("dup", "t", None, 1),
        ledger.hold("too-big", "t", 3, 5), ledger.settle(LogRow("dup", "t", "m", quota=1)),
        ledger.hold("ok-2", "t", None, 1), return_exceptions=True)
    assert results[0] is None and results[4] is None
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], QuotaExceeded)
    assert results[3] is True
    assert sorted(query(db_path, "SELECT request_id, state FROM holds")) == [
        ("dup", "settled"), ("ok-1", "open"), ("ok-2", "open")]
    assert invariant_violations(db_path) == []


async def test_an_op_failing_after_it_wrote_leaves_nothing_half_done_and_the_rest_applied_once(
        ledger: SqliteLedger, db_path: str) -> None:
    # The settle finds the hold (and closes it) before noticing the token is wrong: the batch is
    # redone op by op under savepoints, so its neighbours count once and the hold stays open.
    await ledger.hold("x", "t", None, 7)
    results = await asyncio.gather(
        ledger.hold("a", "t", None, 2), ledger.settle(LogRow("x", "other", "m", quota=3)),
        ledger.hold("b", "t", None, 5), ledger.log(LogRow("c", "t", "m", status=400)),
        return_exceptions=True)
    assert results[0] is None and results[2] is None and results[3] is None
    assert isinstance(results[1], ValueError) and "belongs to token" in str(results[1])
    assert (await ledger.balance("t")).held == 7 + 2 + 5
    assert sorted(query(db_path, "SELECT request_id, state FROM holds")) == [
        ("a", "open"), ("b", "open"), ("x", "open")]
    assert query(db_path, "SELECT request_id FROM logs") == [("c",)]
    assert invariant_violations(db_path) == []


@pytest.mark.parametrize("amount", [-1, 2**63, 1.5])
async def test_bad_amounts_are_refused_before_the_queue(ledger: SqliteLedger, amount: object) -> None:
    with pytest.raises(ValueError):
        await ledger.hold("r", "t", None, amount)  # type: ignore[arg-type]
    assert await ledger.balances() == {}
