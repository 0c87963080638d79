"""Daily statistics as the records the operator API, self-service and `gateway stats` show (pure).

One record per day (and split value) with the sums, USD at the configured rate, averages and p50/p95
from the latency histograms; a total over many records; the range of days a query asks for; and the
same statistics computed from log rows, for a time zone other than the one the ledger keeps them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.ledger.base import STAT_SPLITS, DailyStat, LogRow

DEFAULT_DAYS = 7
_SUMS = ("requests", "errors", "cancelled", "quota", "prompt_tokens", "completion_tokens", "cached_tokens",
         "cache_write_tokens", "reasoning_tokens", "request_time_ms", "first_byte_ms")


def stat_record(stat: DailyStat, by: str | None, quota_per_usd: int | None, *, day: bool = True
                ) -> dict[str, Any]:
    """`stat` as JSON-able data: day, the split value under the split's name, every sum, `usd` when the
    rate is known, average request and first-byte time, and p50/p95 of successful calls (ms)."""
    record: dict[str, Any] = {"day": stat.day} if day else {}
    if by:
        record[by] = stat.key
    record.update({name: getattr(stat, name) for name in _SUMS})
    if quota_per_usd:
        record["usd"] = usd(stat.quota, quota_per_usd)
    record["avg_ms"] = round(stat.request_time_ms / stat.requests) if stat.requests else None
    record["avg_first_byte_ms"] = (round(stat.first_byte_ms / stat.first_byte_count)
                                   if stat.first_byte_count else None)
    record["p50_ms"] = stat.percentile(50)
    record["p95_ms"] = stat.percentile(95)
    return record


def usd(quota: int, quota_per_usd: int) -> float:
    return round(quota / quota_per_usd, 6)


def total(stats: Iterable[DailyStat]) -> DailyStat:
    """Everything in `stats` summed (histograms too, so the total has its own p50/p95)."""
    summed = DailyStat(day="")
    for stat in stats:
        summed = summed.plus(stat, day="")
    return summed


def from_rows(rows: Iterable[LogRow], zone: ZoneInfo, by: str | None = None) -> list[DailyStat]:
    """Daily statistics of log rows in `zone`, ordered as the ledger orders them (day, then quota,
    largest first)."""
    if by is not None and by not in STAT_SPLITS:
        raise ValueError(f"split by one of {', '.join(STAT_SPLITS)}, not {by!r}")
    stats: dict[tuple[str, str | None], DailyStat] = {}
    for row in rows:
        key = getattr(row, by) if by else None
        day = datetime.fromtimestamp(row.time, zone).date().isoformat()
        one = DailyStat.of_row(row, day, key)
        known = stats.get((day, key))
        stats[(day, key)] = one if known is None else known.plus(one, key=key)
    return sorted(stats.values(), key=lambda s: (s.day, -s.quota, s.key or ""))


def day_bound(text: str, zone: ZoneInfo, *, last: bool) -> str:
    """A day given as YYYY-MM-DD, or as unix seconds: for a first day the day holding that moment, for
    a last day the last day that starts before it (so a midnight given as an end is exclusive).
    Raises ValueError."""
    value = text.strip()
    try:
        moment = float(value)
    except ValueError:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a day: use YYYY-MM-DD or unix seconds") from None
    try:
        day = datetime.fromtimestamp(moment, zone).date()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{text!r} is out of range") from None
    if last and midnight(day, zone) >= moment:
        day -= timedelta(days=1)
    return day.isoformat()


def midnight(day: date, zone: ZoneInfo) -> float:
    """Unix time at which `day` starts in `zone`."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def day_range(since: str | None, until: str | None, zone: ZoneInfo, now: float,
              default_days: int = DEFAULT_DAYS) -> tuple[str, str]:
    """(first day, last day), both inclusive: `until` defaults to today in `zone`, `since` to
    `default_days` days ending with it. Raises ValueError for bad input or a range that ends first."""
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    last = day_bound(until, zone, last=True) if until else today
    if since:
        first = day_bound(since, zone, last=False)
    else:
        first = (date.fromisoformat(last) - timedelta(days=default_days - 1)).isoformat()
    if first > last:
        raise ValueError(f"the range starts ({first}) after it ends ({last})")
    return first, last

