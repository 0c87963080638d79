"""Reading the ledger: log pages newest first with filters and a cursor, balances, read-only access."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.ledger import LedgerUnavailable, LogQuery, LogRow, Outcome, TokenBalance
from gateway.ledger.sqlite import SqliteLedger, read_balances, read_logs


async def _fill(ledger: SqliteLedger) -> None:
    """25 rows: tokens a/b, models m0..m2, channels c0/c1, times 1000..1024, some errors."""
    for i in range(25):
        token, request_id = ("a" if i % 2 else "b"), f"r{i}"
        await ledger.hold(request_id, token, None, 10)
        row = LogRow(request_id, token, f"m{i % 3}", time=1000.0 + i, channel=f"c{i % 2}",
                     status=200 if i % 5 else 502, outcome=Outcome.OK if i % 5 else Outcome.ERROR,
                     quota=i)
        await (ledger.settle(row) if i % 5 else ledger.release(row))


async def _walk(ledger: SqliteLedger, query: LogQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: int | None = None
    while True:
        page = await ledger.logs(replace(query, before_id=cursor))
        pages.append([row.request_id for _, row in page.rows])
        ids = [row_id for row_id, _ in page.rows]
        assert ids == sorted(ids, reverse=True)
        if page.next_cursor is None:
            return pages
        assert page.next_cursor == min(ids)
        cursor = page.next_cursor


async def test_pages_are_newest_first_and_cover_every_row_once(ledger: SqliteLedger) -> None:
    await _fill(ledger)
    pages = await _walk(ledger, LogQuery(limit=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [request_id for page in pages for request_id in page] == [f"r{i}" for i in reversed(range(25))]


async def test_an_exact_last_page_has_no_cursor(ledger: SqliteLedger) -> None:
    await _fill(ledger)
    assert [len(p) for p in await _walk(ledger, LogQuery(limit=5))] == [5, 5, 5, 5, 5]
    assert (await ledger.logs(LogQuery(limit=25))).next_cursor is None


@pytest.mark.parametrize(("query", "expected"), [
    (LogQuery(token="a"), [i for i in range(25) if i % 2]),
    (LogQuery(model="m1"), [i for i in range(25) if i % 3 == 1]),
    (LogQuery(channel="c0"), [i for i in range(25) if i % 2 == 0]),
    (LogQuery(outcome="error"), [0, 5, 10, 15, 20]),
    (LogQuery(status=502), [0, 5, 10, 15, 20]),
    (LogQuery(since=1010.0, until=1013.0), [10, 11, 12]),
    (LogQuery(token="b", model="m0", outcome="ok"), [6, 12, 18, 24]),
    (LogQuery(token="nobody"), []),
])
async def test_filters(ledger: SqliteLedger, query: LogQuery, expected: list[int]) -> None:
    await _fill(ledger)
    pages = await _walk(ledger, replace(query, limit=3))
    assert [request_id for page in pages for request_id in page] == [f"r{i}" for i in reversed(expected)]


async def test_limit_below_one_is_refused(ledger: SqliteLedger) -> None:
    with pytest.raises(ValueError):
        await ledger.logs(LogQuery(limit=0))


async def test_balances(ledger: SqliteLedger) -> None:
    await _fill(ledger)
    await ledger.hold("open", "a", None, 7)
    a_quota = sum(i for i in range(25) if i % 2 and i % 5)
    assert await ledger.balance("a") == TokenBalance("a", used=a_quota, held=7, requests=12)
    assert await ledger.balance("unknown") == TokenBalance("unknown", used=0, held=0, requests=0)
    assert set(await ledger.balances()) == {"a", "b"}


async def test_read_only_access_beside_a_running_writer(ledger: SqliteLedger, db_path: str) -> None:
    await _fill(ledger)
    assert await read_balances(db_path) == await ledger.balances()
    assert await read_logs(db_path, LogQuery(limit=4)) == await ledger.logs(LogQuery(limit=4))
    reader = SqliteLedger(db_path, readonly=True)
    assert await reader.open() == 0
    with pytest.raises(LedgerUnavailable, match="read-only"):
        await reader.hold("r-new", "a", None, 1)
    await ledger.hold("r-new", "a", None, 1)  # the writer is not blocked by an open reader
    assert (await reader.balance("a")).held == 1  # and the reader sees the commit at once
    await reader.close()


async def test_read_only_never_creates_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable):
        await read_balances(str(tmp_path / "missing.db"))
    assert _files(tmp_path) == []


def _files(directory: Path) -> list[Path]:
    return list(directory.iterdir())
