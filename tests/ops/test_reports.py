"""Daily statistics summed from log rows, and time parsing of the read commands (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.daily_report import from_rows, stat_record
from gateway.ledger.base import LogRow, Outcome
from gateway.ledger.latency import percentile
from gateway.reports import parse_when, start_of_days


def row(when: datetime, **fields: Any) -> LogRow:
    return LogRow(request_id=str(when.timestamp()) + str(fields), token=fields.pop("token", "alice"),
                  model=fields.pop("model", "m"), time=when.timestamp(), **fields)


def test_daily_statistics_follow_the_time_zone_and_split() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("UTC"))  # 00:30 on March 2nd in Berlin
    rows = [row(late, quota=10, request_time_ms=100), row(late, quota=5, model="x", request_time_ms=300),
            row(late, outcome=Outcome.ERROR, model="x"), row(late, outcome=Outcome.CANCELLED, quota=2)]
    [utc_day] = from_rows(rows, ZoneInfo("UTC"))
    [berlin_day] = from_rows(rows, berlin)
    assert (utc_day.day, berlin_day.day) == ("2026-03-01", "2026-03-02")
    assert (utc_day.requests, utc_day.errors, utc_day.cancelled, utc_day.quota) == (4, 1, 1, 17)
    record = stat_record(utc_day, None, 10)
    assert (record["p50_ms"], record["p95_ms"], record["usd"]) == (100, 300, 1.7)
    by_model = {s.key: s for s in from_rows(rows, berlin, "model")}
    assert (by_model["m"].quota, by_model["x"].quota, by_model["x"].errors) == (12, 5, 1)
    with pytest.raises(ValueError):
        from_rows(rows, berlin, "colour")


def test_percentiles_and_times() -> None:
    assert percentile([0] * 23, 0, 50) is None
    utc = ZoneInfo("UTC")
    now = datetime(2026, 5, 10, 12, 0, tzinfo=utc).timestamp()
    assert parse_when("2h", utc, now) == now - 7200
    assert parse_when("2026-05-09", utc, now) == datetime(2026, 5, 9, tzinfo=utc).timestamp()
    assert parse_when("2026-05-09T10:00:00Z", ZoneInfo("Asia/Tokyo"), now) == now - 26 * 3600
    assert parse_when("1700000000", utc, now) == 1_700_000_000
    with pytest.raises(ValueError):
        parse_when("last tuesday", utc, now)
    assert start_of_days(1, utc, now) == datetime(2026, 5, 10, tzinfo=utc).timestamp()
    assert start_of_days(7, utc, now) == datetime(2026, 5, 4, tzinfo=utc).timestamp()
