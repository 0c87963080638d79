"""Fixed-bucket latency histograms: which bucket a duration falls in, and percentiles read from the counts.

The daily statistics table has one column per bucket (schema migration 2), so these bounds are part of
the schema: changing them needs a new migration, not an edit here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Upper bounds (inclusive, milliseconds) of every bucket but the last, which takes everything longer.
# Roughly 1.5x apart: wide enough for one small row per day, narrow enough for a useful p50/p95.
BOUNDS_MS: tuple[int, ...] = (
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000,
    30_000, 45_000, 60_000, 90_000, 120_000, 180_000, 300_000,
)
BUCKETS = len(BOUNDS_MS) + 1
COLUMNS: tuple[str, ...] = (*(f"lat_le_{bound}" for bound in BOUNDS_MS), f"lat_over_{BOUNDS_MS[-1]}")


def bucket_of(ms: int) -> int:
    """Index of the bucket holding `ms`: the first whose bound is ≥ ms, else the overflow bucket."""
    return bisect_left(BOUNDS_MS, ms)


def percentile(counts: Sequence[int], max_ms: int, pct: int) -> int | None:
    """The nearest-rank `pct` percentile (0 < pct ≤ 100) of the durations counted in `counts`, as the
    upper bound of the bucket it falls in, capped at the largest duration seen (`max_ms`), which is
    also the answer for the overflow bucket. None when nothing was counted."""
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {pct}")
    total = sum(counts)
    if total == 0:
        return None
    rank = max(1, -(-pct * total // 100))  # ceil in integers: no float rounding at p95 of 100
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            bound = BOUNDS_MS[index] if index < len(BOUNDS_MS) else max_ms
            return min(bound, max_ms)
    return max_ms  # unreachable while counts sum to total
