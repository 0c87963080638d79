"""A batch is only a way to write faster: applying ops in one batch must give the same results and leave the
same rows as applying them one batch each (the shortcuts: no savepoint per op, settlements written
together, a careful redo when an op fails after writing)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ledger import daily
from gateway.ledger.base import HoldState, LogRow, Outcome, QuotaExceeded
from gateway.ledger.batches import apply_batch
from gateway.ledger.writes import (
    CloseOp,
    HoldOp,
    LogOp,
    OpResult,
    WriteOp,
    connect_writer,
    migrate,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = 1_750_000_000.0
REQUESTS = ["r1", "r2", "r3", "r4"]
TOKENS = ["alice", "bob"]

_row = st.builds(
    LogRow, request_id=st.sampled_from(REQUESTS), token=st.sampled_from(TOKENS), model=st.just("m"),
    time=st.sampled_from([0.0, NOW - 86_400 * 3, NOW]), channel=st.sampled_from(["a", "b"]),
    status=st.sampled_from([200, 400, 499]), outcome=st.sampled_from(list(Outcome)),
    prompt_tokens=st.integers(0, 50), completion_tokens=st.integers(0, 50), quota=st.integers(0, 40),
    request_time_ms=st.integers(0, 5000))
_op: st.SearchStrategy[WriteOp] = st.one_of(
    st.builds(HoldOp, request_id=st.sampled_from(REQUESTS), token=st.sampled_from(TOKENS),
              grant=st.sampled_from([None, 30, 100]), amount=st.sampled_from([0, 5, 10, 15, 30, 31]),
              model=st.just("m")),
    st.builds(CloseOp, row=_row, state=st.sampled_from([HoldState.SETTLED, HoldState.RELEASED])),
    st.builds(LogOp, row=_row),
)


@contextmanager
def fresh_ledger_file() -> Iterator[sqlite3.Connection]:
    with TemporaryDirectory() as directory:
        db = connect_writer(str(Path(directory) / "ledger.db"), "OFF", 1000)
        with closing(db):
            migrate(db)
            daily.ensure_zone(db, ZONE)
            yield db


def dump(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in ("holds", "token_usage", "logs", "daily_stats")}


def comparable(result: OpResult) -> object:
    """An op's result as a caller can tell it: refusals by their public class and message."""
    if isinstance(result, QuotaExceeded):
        return ("QuotaExceeded", str(result))
    if isinstance(result, ValueError):
        return ("ValueError", str(result))
    if isinstance(result, Exception):
        return (type(result).__name__, str(result))
    return result


def outcome(ops_in_batches: list[list[WriteOp]]) -> tuple[list[object], dict[str, list[tuple[object, ...]]]]:
    with fresh_ledger_file() as db:
        results: list[OpResult] = []
        for batch in ops_in_batches:
            results += apply_batch(db, batch, "boot", NOW, ZONE)
        return [comparable(r) for r in results], dump(db)


# Both tokens known to the ledger beforehand (a settled call each), so runs meet existing balances too.
KNOWN = [HoldOp("r0", "alice", None, 1, "m"), CloseOp(LogRow("r0", "alice", "m", quota=1), HoldState.SETTLED),
         HoldOp("r00", "bob", None, 1, "m"), CloseOp(LogRow("r00", "bob", "m", quota=0), HoldState.SETTLED)]


@settings(max_examples=500, deadline=None)
@given(st.booleans(), st.lists(st.lists(_op, min_size=1, max_size=12), min_size=1, max_size=4))
def test_ops_in_batches_end_as_they_would_one_by_one(known: bool, batches: list[list[WriteOp]]) -> None:
    setup = [[op] for op in KNOWN] if known else []
    one_by_one = [[op] for batch in batches for op in batch]
    assert outcome(setup + batches) == outcome(setup + one_by_one)


def test_a_run_of_holds_meets_the_grant_exactly() -> None:
    holds: list[WriteOp] = [HoldOp(f"h{i}", "alice", 30, 10, "m") for i in range(4)]
    results, tables = outcome([[op] for op in KNOWN] + [holds])
    assert results[4:] == [None, None, ("QuotaExceeded", "token 'alice': grant 30 − used 1 − held 20 < 10"),
                           ("QuotaExceeded", "token 'alice': grant 30 − used 1 − held 20 < 10")]
    assert ("alice", 1, 20, 1) in tables["token_usage"]
    assert (results, tables) == outcome([[op] for op in KNOWN + holds])


def test_a_run_of_settlements_with_every_kind_of_outcome() -> None:
    holds: list[WriteOp] = [HoldOp("r1", "alice", None, 10, "m"), HoldOp("r2", "alice", None, 20, "m"),
                            HoldOp("r3", "bob", None, 5, "m")]
    closes: list[WriteOp] = [
        CloseOp(LogRow("r1", "alice", "m", quota=7, time=NOW), HoldState.SETTLED),
        CloseOp(LogRow("r2", "alice", "m", quota=9, time=NOW), HoldState.RELEASED),  # releases bill nothing
        CloseOp(LogRow("r3", "alice", "m", quota=1, time=NOW), HoldState.SETTLED),  # bob's hold: refused
        CloseOp(LogRow("r4", "alice", "m", quota=1, time=NOW), HoldState.SETTLED),  # never held
    ]
    results, tables = outcome([holds, closes])
    assert results[3:] == [True, True, ("ValueError", "hold 'r3' belongs to token 'bob', not 'alice'"), False]
    assert sorted(tables["token_usage"]) == [("alice", 7, 0, 2), ("bob", 0, 5, 0)]
    assert (results, tables) == outcome([[op] for op in holds + closes])
