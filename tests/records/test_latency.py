"""Latency buckets and percentiles read from them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ledger.latency import BOUNDS_MS, BUCKETS, COLUMNS, bucket_of, percentile


def test_bucket_edges() -> None:
    assert len(COLUMNS) == BUCKETS == len(BOUNDS_MS) + 1
    assert list(BOUNDS_MS) == sorted(set(BOUNDS_MS))
    assert [bucket_of(ms) for ms in (-5, 0, 50, 51, 100, 101, 300_000, 300_001)] == [0, 0, 0, 1, 1, 2, 21, 22]


def counts(*durations: int) -> list[int]:
    histogram = [0] * BUCKETS
    for ms in durations:
        histogram[bucket_of(ms)] += 1
    return histogram


def test_percentiles_are_bucket_bounds_capped_by_the_slowest_call() -> None:
    assert percentile([0] * BUCKETS, 0, 50) is None
    assert percentile(counts(120), 120, 50) == 120  # bound 200, but nothing took longer than 120
    durations = [40] * 90 + [900] * 5 + [4_000] * 5
    assert percentile(counts(*durations), 4_000, 50) == 50
    assert percentile(counts(*durations), 4_000, 95) == 1_000  # rank 95 of 100: exact, no float slip
    assert percentile(counts(*durations), 4_000, 96) == 4_000
    assert percentile(counts(700_000), 700_000, 95) == 700_000
    with pytest.raises(ValueError):
        percentile(counts(1), 1, 0)


@given(st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=200),
       st.integers(min_value=1, max_value=100))
def test_the_answer_bounds_the_exact_percentile_from_above_within_one_bucket(durations: list[int],
                                                                             pct: int) -> None:
    ordered = sorted(durations)
    exact = ordered[max(1, -(-pct * len(ordered) // 100)) - 1]
    answer = percentile(counts(*durations), max(durations), pct)
    assert answer is not None
    assert exact <= answer
    assert bucket_of(answer) == bucket_of(exact)


def test_the_rebuild_s_sql_buckets_agree_with_bucket_of() -> None:
    import sqlite3

    from gateway.ledger.daily import _BUCKET_SQL

    durations = sorted({-1, 0, *BOUNDS_MS, *(b + 1 for b in BOUNDS_MS), *(b - 1 for b in BOUNDS_MS), 10**9})
    with sqlite3.connect(":memory:") as db:
        got = [db.execute(f"SELECT {_BUCKET_SQL} FROM (SELECT ? AS request_time_ms)", (ms,)).fetchone()[0]
               for ms in durations]
    assert got == [bucket_of(ms) for ms in durations]
